#!/usr/bin/env python3
"""Generate exercises/ (the student skeletons) from solutions/ (the answers).

solutions/ is the single source of truth.  In it, the code a student must
write is marked with the convention nbgrader and otter-grader share::

    def broadcast(self, line, exclude=None):
        \"\"\"Send LINE to every client except EXCLUDE.\"\"\"   <- kept: the instructions
        ### BEGIN SOLUTION
        ...the reference answer...                        <- removed
        ### END SOLUTION

Each region becomes, at the same indentation::

        # TODO: <the hint, see below>
        raise NotImplementedError("ex03_broadcast: broadcast() is not written yet")

The hint is the first line of the region when that line is a comment
starting with ``# TODO:`` (it is kept verbatim); otherwise a generic one.
Everything outside the regions (module docstrings, class and function
docstrings, provided helpers) is copied unchanged, so the instructions the
student reads are the ones the instructor wrote next to the answer.

Usage::

    python tools/make_exercises.py           # rewrite exercises/
    python tools/make_exercises.py --check   # exit 1 and list differences, write nothing

The output is deterministic: the same solutions/ always gives byte-identical
exercises/, which is what lets CI check that both trees are in sync.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
DEFAULT_HINT = "# TODO: write this part (read the docstring above), then delete the raise below."
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}

# exercises/__init__.py is not a copy of solutions/__init__.py: the
# package docstring talks to the student.
EXERCISES_INIT = '''"""Your exercises: fill in every ``raise NotImplementedError`` in these modules.

This package is generated from the instructor's reference answers by
tools/make_exercises.py.  Each module starts with the instructions for one
exercise; each function or method you must write says in its docstring what
it must do.  Run the graded tests of one exercise with, for example::

    chatlab grade ex01
    python -m pytest tests/graded/test_ex01_echo.py --impl exercises

See docs/EXERCISES.md for how to work and how you are graded.
"""
'''


class RegionError(ValueError):
    """A solution region is malformed (unbalanced or nested markers)."""


_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")


def _enclosing_function(lines: list[str], index: int, indent: int) -> str | None:
    """The name of the nearest ``def`` above line INDEX that is less indented."""
    for line in reversed(lines[:index]):
        match = _DEF.match(line)
        if match and len(match.group(1)) < indent:
            return match.group(2)
    return None


def strip_solutions(source: str, module: str) -> str:
    """Return SOURCE with each solution region replaced by a TODO and a raise."""
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped == END:
            raise RegionError(f"{module}: line {i + 1}: {END} without {BEGIN}")
        if stripped != BEGIN:
            out.append(line)
            i += 1
            continue
        indent_text = line[: len(line) - len(line.lstrip())]
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != END:
            if lines[i].strip() == BEGIN:
                raise RegionError(f"{module}: line {i + 1}: nested {BEGIN}")
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise RegionError(f"{module}: line {start + 1}: {BEGIN} without {END}")
        i += 1  # skip the END marker
        first = body[0].strip() if body else ""
        hint = first if first.startswith("# TODO:") else DEFAULT_HINT
        where = _enclosing_function(lines, start, len(indent_text))
        # Says what to do and where, once: tests/graded/teach.py already adds
        # "this part of the exercise is not written yet" to the failure.
        source = f"exercises/{module.replace('.', '/')}.py"
        what = f"write {where}() in {source}" if where else f"write this part of {source}"
        out.append(f"{indent_text}{hint}\n")
        out.append(f'{indent_text}raise NotImplementedError("{what}")\n')
    return "".join(out)


def build(solutions: Path) -> dict[str, bytes]:
    """Map each relative path of exercises/ to its generated content."""
    result: dict[str, bytes] = {}
    for path in sorted(solutions.rglob("*")):
        rel = path.relative_to(solutions)
        if path.is_dir() or any(part in SKIP_DIRS for part in rel.parts) or path.suffix == ".pyc":
            continue
        key = rel.as_posix()
        if key == "__init__.py":
            result[key] = EXERCISES_INIT.encode()
        elif path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            result[key] = strip_solutions(text, rel.with_suffix("").as_posix().replace("/", ".")).encode()
        else:
            result[key] = path.read_bytes()
    return result


def existing(exercises: Path) -> dict[str, bytes]:
    """Map each relative path currently in exercises/ to its content."""
    if not exercises.is_dir():
        return {}
    found = {}
    for path in sorted(exercises.rglob("*")):
        rel = path.relative_to(exercises)
        if path.is_dir() or any(part in SKIP_DIRS for part in rel.parts) or path.suffix == ".pyc":
            continue
        found[rel.as_posix()] = path.read_bytes()
    return found


def differences(wanted: dict[str, bytes], have: dict[str, bytes]) -> list[str]:
    """One line per file that differs between the wanted and the current tree."""
    diffs = []
    for key in sorted(set(wanted) | set(have)):
        if key not in have:
            diffs.append(f"missing in exercises/: {key}")
        elif key not in wanted:
            diffs.append(f"not generated from solutions/ (stale): exercises/{key}")
        elif wanted[key] != have[key]:
            diffs.append(f"differs from what solutions/ generates: exercises/{key}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate exercises/ from solutions/.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on any difference")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    args = parser.parse_args(argv)

    if not args.solutions.is_dir():
        print(f"make_exercises: no {args.solutions} (a student release has no solutions/)", file=sys.stderr)
        return 2
    try:
        wanted = build(args.solutions)
    except RegionError as exc:
        print(f"make_exercises: {exc}", file=sys.stderr)
        return 2
    diffs = differences(wanted, existing(args.exercises))
    if args.check:
        for line in diffs:
            print(line)
        if diffs:
            print("exercises/ is out of date: run `make exercises` (tools/make_exercises.py) and commit it.")
            return 1
        print(f"exercises/ is in sync with solutions/ ({len(wanted)} files)")
        return 0
    for key, data in wanted.items():
        target = args.exercises / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    for key in existing(args.exercises):
        if key not in wanted:
            (args.exercises / key).unlink()
    print(f"wrote exercises/ from solutions/ ({len(wanted)} files, {len(diffs)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

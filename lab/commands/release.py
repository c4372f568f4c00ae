"""`chatlab release`: build the student copy of the kit, without the solutions.

The copy holds the git-tracked files of the kit (as they are in the working
tree) minus what would give the answers away or only makes sense with them:
``solutions/``, the generator of exercises/, and the instructor-only tests
that compare exercises/ with solutions/.  Before writing anything it checks
that exercises/ is in sync with solutions/ and that no file left in the copy
imports ``solutions`` (a test or a notebook that did would hand out the
answers, or break without them).

Without solutions/, the graded tests grade exercises/ by default
(tests/graded/conftest.py), which is what a student wants.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HELP = "build a student copy of the kit without solutions/"
DESCRIPTION = ("Copy the kit's git-tracked files into a directory to hand out to students, leaving out "
               "solutions/ and the instructor-only tools and tests. Refuses when exercises/ is out of date "
               "or when a file left in the copy imports solutions.")

#: Paths (files, or directories ending with "/") the student copy never contains.
INSTRUCTOR_ONLY = (
    "solutions/",
    "tools/make_exercises.py",
    "tools/record_lessons.py",
    "tests/test_exercises_sync.py",
    "tests/test_graded_skeleton.py",
    "tests/test_graded_wrong_answers.py",
    "tests/graded/wrong/",  # known wrong answers: mostly right answers, so never handed out
    "tests/test_release.py",
    "tests/test_grading.py",
)
MARKER = ".chatlab-release"  # written into the copy; lets --force replace an older release safely
_IMPORTS_SOLUTIONS = re.compile(r"^\s*(?:from\s+solutions\b|import\s+solutions\b)|import_module\(\s*[\"']solutions\b",
                                re.MULTILINE)


class ReleaseError(Exception):
    """A reason not to build the release; one line for the user."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab release`: --output DIR, --force."""
    parser.add_argument("--output", "-o", default="student-release",
                        help="directory to create (default: %(default)s, inside the kit)")
    parser.add_argument("--force", action="store_true", help="replace the output directory if it is an older release")


def is_instructor_only(path: str) -> bool:
    """True when PATH (relative, with /) must stay out of the student copy."""
    return any(path == item or (item.endswith("/") and path.startswith(item)) for item in INSTRUCTOR_ONLY)


def leaks(path: str, text: str) -> bool:
    """True when the file PATH with contents TEXT imports the solutions package."""
    if path.endswith(".ipynb"):
        try:
            cells = json.loads(text).get("cells", [])
        except (ValueError, AttributeError):
            return False
        text = "\n".join("".join(cell.get("source", [])) for cell in cells if cell.get("cell_type") == "code")
    elif not path.endswith(".py"):
        return False
    return bool(_IMPORTS_SOLUTIONS.search(text))


def tracked_files(root: Path) -> list[str]:
    """The kit's files, relative to ROOT: git-tracked ones if ROOT is a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=30).stdout
        return sorted(p for p in out.decode().split("\0") if p and (root / p).is_file())
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "student-release"}
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                      if p.is_file() and not skip & set(p.relative_to(root).parts))


def select(root: Path, files: list[str]) -> list[str]:
    """The files of the student copy; raises ReleaseError on a leak."""
    chosen = [f for f in files if not is_instructor_only(f)]
    leaking = [f for f in chosen if leaks(f, (root / f).read_text(encoding="utf-8", errors="replace"))]
    if leaking:
        raise ReleaseError("these files import solutions and would leak the answers (or break without them): "
                           + ", ".join(leaking))
    if not any(f.startswith("exercises/") for f in chosen):
        raise ReleaseError("no exercises/ among the tracked files: run `make exercises` and commit exercises/")
    return chosen


def check_exercises_in_sync(root: Path) -> None:
    """Raise ReleaseError unless exercises/ is what tools/make_exercises.py makes from solutions/.

    A student release must hand out the skeletons of the current solutions.
    In a release (no solutions/ or no tool) there is nothing to compare with.
    """
    tool = root / "tools" / "make_exercises.py"
    if not (root / "solutions").is_dir() or not tool.is_file():
        return  # releasing a release: nothing to compare with
    result = subprocess.run([sys.executable, str(tool), "--check"], cwd=root, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        first = (result.stdout.strip().splitlines() or ["(no details)"])[0]
        raise ReleaseError(f"exercises/ is not in sync with solutions/ ({first}); run `make exercises` first")


def build(root: Path, output: Path, force: bool = False) -> list[str]:
    """Write the student copy of ROOT into OUTPUT; return the files copied."""
    output = output.resolve()
    if output == root or output in root.parents:
        raise ReleaseError(f"refusing to write the release over the kit itself ({output})")
    if output.exists() and any(output.iterdir()):
        if not force:
            raise ReleaseError(f"{output} exists and is not empty; choose another --output, or --force to replace it")
        if not (output / MARKER).is_file():
            raise ReleaseError(f"{output} is not a chatlab release (no {MARKER}); refusing to delete it")
        shutil.rmtree(output)
    check_exercises_in_sync(root)
    files = select(root, tracked_files(root))
    for rel in files:
        target = output / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    (output / MARKER).write_text(f"student release of chat-lab made by `chatlab release` ({len(files)} files)\n")
    return files


def run(args: argparse.Namespace) -> int:
    """Build the student copy and say what was left out; 0 on success, 1 with one line why not."""
    from lab.grading import kit_root

    root = kit_root()
    output = Path(args.output)
    if not output.is_absolute():
        output = root / output
    try:
        files = build(root, output, args.force)
    except (ReleaseError, OSError) as error:
        print(f"chatlab release: {error}", file=sys.stderr)
        return 1
    left_out = [item for item in INSTRUCTOR_ONLY if (root / item.rstrip("/")).exists()]
    print(f"student release written to {output} ({len(files)} files)")
    print(f"left out: {', '.join(left_out) or 'nothing'}")
    print("the graded tests there grade exercises/ by default; hand out the directory (or a zip/git repo of it)")
    return 0

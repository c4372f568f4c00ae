"""Find the shell commands the documentation tells a reader to type (no I/O but reading files).

Where commands are looked for:

* README.md and docs/*.md: fenced code blocks.  In a block marked ``sh``,
  ``shell`` or ``bash`` every line is a command; in a ``console`` block the
  lines that start with ``$ ``; in an unmarked block the lines whose first
  word is a program a reader runs (``chatlab``, ``make``, ``python``,
  ``sudo``...: ``PROGRAMS``), so log excerpts, diagrams and protocol samples
  in unmarked blocks are not mistaken for commands.  Other languages
  (``python``, ``json``) are code, not commands.
* tools/lessons/*.py: the markdown cells (read with ``ast``, never imported):
  their fenced blocks as above, and the inline code spans that start with one
  of ``PROGRAMS`` (lessons write "run `chatlab server`" in prose).

A command is the text as written, with a trailing ``# comment`` removed and
runs of blanks made one; a line that ends with ``\\`` continues on the next.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

#: First words that make a line of an unmarked block (or an inline span of a lesson) a command.
PROGRAMS = ("chatlab", "make", "python", "python3", "sudo", "nc", "telnet", "socat", "pip", "pytest",
            ".venv/bin/", ". .venv/bin/activate", "source", "tcpdump", "tshark", "ip", "git", "cd")
SHELL_LANGUAGES = {"sh", "shell", "bash"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Found:
    """One command, where it was written (``path`` relative to the kit, 1-based ``line``)."""

    path: str
    line: int
    command: str

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def normalise(text: str) -> str:
    """The command as written minus a trailing shell comment, blanks collapsed."""
    return " ".join(_strip_comment(text).split())


def _strip_comment(text: str) -> str:
    """Drop a ``#`` comment that starts a word outside quotes (as the shell does)."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i]
    return text


def is_program_line(text: str) -> bool:
    """True when the line starts with one of ``PROGRAMS`` (a command, not output or a diagram)."""
    text = text.strip()
    for program in PROGRAMS:
        if program.endswith("/"):
            if text.startswith(program):
                return True
        elif text == program or text.startswith(program + " "):
            return True
    return False


def commands_in_markdown(text: str, path: str, first_line: int = 1, inline: bool = False) -> list[Found]:
    """Every command in the markdown TEXT (see the module docstring); ``first_line``
    is the line number of TEXT's first line in its file."""
    found: list[Found] = []
    lines = text.splitlines()
    i = 0
    prose: list[tuple[int, str]] = []
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            prose.append((i, lines[i]))
            i += 1
            continue
        indent, lang = fence.group("indent"), fence.group("lang").lower()
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = [(k, lines[k][len(indent):] if lines[k].startswith(indent) else lines[k].lstrip())
                for k in range(i + 1, min(j, len(lines)))]
        found += _commands_in_block(body, lang, path, first_line)
        i = j + 1
    if inline:
        for k, line in prose:
            for span in _INLINE.findall(line):
                if is_program_line(span) and normalise(span):
                    found.append(Found(path, first_line + k, normalise(span)))
    return found


def _commands_in_block(body: list[tuple[int, str]], lang: str, path: str, first_line: int) -> list[Found]:
    if lang not in SHELL_LANGUAGES | {"console", ""}:
        return []
    found = []
    pending: tuple[int, str] | None = None
    for k, raw in body:
        text = raw.rstrip()
        if pending is not None:
            start, so_far = pending
            text = so_far + " " + text.strip()
            k = start
            pending = None
        elif lang == "console":
            if not text.startswith("$ "):
                continue
            text = text[2:]
        elif lang == "" and not is_program_line(text):
            continue
        if text.endswith("\\"):
            pending = (k, text[:-1])
            continue
        command = normalise(text)
        if command:
            found.append(Found(path, first_line + k, command))
    return found


def lesson_markdown_cells(source: str) -> list[tuple[int, str]]:
    """(line of the cell's text in the file, text) of each ("md", TEXT) cell in a lesson's CELLS."""
    tree = ast.parse(source)
    cells = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CELLS" for t in node.targets):
            for element in node.value.elts:
                kind, text = (ast.literal_eval(part) for part in element.elts[:2])
                if kind == "md":
                    # A raw triple-quoted string starts on its own line: its first line is the literal's.
                    cells.append((element.elts[1].lineno, text))
    return cells


def kit_commands(root: Path) -> list[Found]:
    """Every command in README.md, docs/*.md and the lessons' markdown cells under ROOT."""
    found: list[Found] = []
    for md in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        found += commands_in_markdown(md.read_text(encoding="utf-8"), md.relative_to(root).as_posix())
    for lesson in sorted((root / "tools" / "lessons").glob("*.py")):
        rel = lesson.relative_to(root).as_posix()
        for line, text in lesson_markdown_cells(lesson.read_text(encoding="utf-8")):
            found += commands_in_markdown(text, rel, first_line=line, inline=True)
    return found

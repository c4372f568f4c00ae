"""Every file path and every ``lab.`` module name that README.md and docs/*.md mention exists in the tree.

Files moved (issue 16: lab/client.py became lab/tcp/client.py, ...) and the
documentation kept the old names; a reader who opens the file named finds
nothing.  This test reads the markdown as text: a path is a word starting
with one of the kit's top folders (``lab/``, ``tests/``, ``docs/``...), a
module name a dotted word starting with ``lab.``; a module name may end
with an attribute (``lab.chat.limits.DEFAULT_PORT``), which must exist too.
Placeholders a reader fills in are written in capitals or as ``exNN``
(``solutions/EXERCISE.py``, ``tests/graded/test_exNN_topic.py``) and are
not looked up.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FOLDERS = ("lab", "tests", "tools", "bench", "solutions", "exercises", "notebooks", "docs")
PATH = re.compile(r"(?<![\w/.-])((?:%s)/[\w./*-]*[\w*/])" % "|".join(FOLDERS))
MODULE = re.compile(r"(?<![\w/.])(lab(?:\.\w+)+)")
PLACEHOLDER = re.compile(r"[A-Z]{4,}|exNN")


def is_placeholder(reference: str) -> bool:
    """True for a reference the reader completes (``NAME``, ``EXERCISE``, ``exNN``)."""
    return bool(PLACEHOLDER.search(reference))


def missing_path(reference: str) -> bool:
    """True when the path (a glob if it has a ``*``) names nothing under the kit's root."""
    reference = reference.rstrip(".")
    if "*" in reference:
        return not any(ROOT.glob(reference))
    return not (ROOT / reference).exists()


def missing_module(name: str) -> str | None:
    """Why the dotted NAME is not a module of the kit (or a module's attribute), or None if it is."""
    parts = name.split(".")
    for end in range(len(parts), 1, -1):
        module = ".".join(parts[:end])
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            continue
        obj = importlib.import_module(module)
        for attribute in parts[end:]:
            if not hasattr(obj, attribute):
                return f"{module} has no {'.'.join(parts[end:])}"
            obj = getattr(obj, attribute)
        return None
    return "no such module"


def references(text: str) -> list[tuple[int, str, str]]:
    """(line, "path" or "module", the reference) for each one in the markdown TEXT."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        found += [(number, "path", m.group(1)) for m in PATH.finditer(line)]
        found += [(number, "module", m.group(1)) for m in MODULE.finditer(line)]
    return [(number, kind, ref) for number, kind, ref in found if not is_placeholder(ref)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_path_and_module_named_exists(doc):
    wrong = []
    for number, kind, ref in references(doc.read_text(encoding="utf-8")):
        why = ("no such file or folder" if missing_path(ref) else None) if kind == "path" else missing_module(ref)
        if why:
            wrong.append(f"{doc.relative_to(ROOT)}:{number}: {ref} ({why})")
    assert not wrong, "the documentation names what the tree does not have:\n  " + "\n  ".join(wrong)


def test_the_check_finds_an_old_name():
    text = "See lab/client.py, lab/tcp/client.py, lab.tcp.client, lab.client and lab.chat.limits.not_there."
    refs = references(text)
    assert [ref for _, kind, ref in refs if kind == "path" and missing_path(ref)] == ["lab/client.py"]
    assert {ref: missing_module(ref) for _, kind, ref in refs if kind == "module"} == {
        "lab.tcp.client": None, "lab.client": "no such module", "lab.chat.limits.not_there": "lab.chat.limits has no not_there"}
    assert references("solutions/EXERCISE.py and tests/graded/test_exNN_topic.py") == []

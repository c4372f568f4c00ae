"""Write notebooks/*.ipynb from the lesson texts in tools/lessons/ (no outputs stored).

The lessons are kept as plain Python (tools/lessons/NN_name.py, each a
list ``CELLS`` of ("md", text) / ("code", text)) so they diff and review
like code; this script turns them into notebooks with nbformat, kernel
"chatlab", no outputs and no execution counts.

    python tools/make_notebooks.py            # write notebooks/
    python tools/make_notebooks.py --check    # exit 1 if notebooks/ is out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "tools" / "lessons"
OUT = ROOT / "notebooks"

KERNELSPEC = {"name": "chatlab", "display_name": "chat-lab", "language": "python"}


def load_cells(path: Path) -> list[tuple[str, str]]:
    spec = importlib.util.spec_from_file_location(f"lesson_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CELLS


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(cells):
        text = text.strip("\n")
        cell = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating does not change the files
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(path: Path) -> str:
    return nbformat.writes(build(load_cells(path))) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that notebooks/ is up to date")
    args = parser.parse_args(argv)
    stale = []
    for source in sorted(LESSONS.glob("[0-9][0-9]_*.py")):
        target = OUT / f"{source.stem}.ipynb"
        text = render(source)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.name)
        if not args.check:
            OUT.mkdir(exist_ok=True)
            target.write_text(text)
    if args.check:
        if stale:
            print("out of date (run python tools/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
            return 1
        print("notebooks/ is up to date")
        return 0
    print("wrote", ", ".join(stale) if stale else "nothing (all up to date)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Execute one notebook with nbclient (used by the test and by tools/record_lessons.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 120  # seconds per cell; every cell of the kit takes a few seconds at most


def kernel_name() -> str:
    """"chatlab" (what `make` installs) if that kernel exists, else "python3"."""
    from jupyter_client.kernelspec import KernelSpecManager

    names = KernelSpecManager().find_kernel_specs()
    return "chatlab" if "chatlab" in names else "python3"


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell of ``path`` in a fresh kernel (cwd notebooks/); raises CellExecutionError on an error."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name(),
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb

"""The instructor notebooks: stored without outputs, and each one runs end to end.

Every notebook is executed with nbclient in a fresh kernel (a time bound per
cell); a cell that raises fails the test.  After each run we check that it
left nothing behind: no process started by it (every process the kernel
starts inherits a marker in its environment, so we find them all, even
orphans), no network namespace with the notebooks' prefix, no new nftables
table.

As root (CI) the live paths run -- packet capture, the emulated network --
and the test checks that they did.  The same notebooks also run with
CHATLAB_RECORDED=1, the fallback a laptop without root gets: recorded
captures with a visible note, the loopback experiment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import subprocess
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from lab.notebook import FORCE_RECORDED_ENV, NETLAB_PREFIX
from tests.helpers.privilege import privilege_problem
from tests.notebooks.run import NOTEBOOKS, execute

NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MARKER = "CHATLAB_NOTEBOOK_TEST"


def test_the_lessons_are_numbered_in_order():
    # Lesson 8 (the emulated network's delay and rate) is written on another branch.
    numbers = [n[:2] for n in NAMES if n[:2] != "08"]
    assert numbers == ["01", "02", "03", "04", "05", "06", "07", "09"], NAMES


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "chatlab"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {i} has stored outputs (regenerate with tools/make_notebooks.py)"
            assert cell.execution_count is None, f"{name}: cell {i} has an execution count"


def test_notebooks_match_their_lesson_sources():
    """notebooks/ is what tools/make_notebooks.py makes from tools/lessons/ (no hand edits lost)."""
    result = subprocess.run([sys.executable, "tools/make_notebooks.py", "--check"], cwd=NOTEBOOKS.parent,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_recorded_captures_exist(name):
    """Every capture a notebook makes has a recording to fall back on."""
    from lab.notebook import LESSON_DATA

    source = "\n".join(c.source for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells)
    captures = re.findall(r'lesson\.capture\([^,]+,\s*"([^"]+)"', source)
    assert captures, f"{name} captures nothing?"
    for capture in captures:
        assert (LESSON_DATA / f"{capture}.pcap").exists(), f"{name}: no recording for capture {capture!r}"
        json.loads((LESSON_DATA / f"{capture}.json").read_text())


# --- running them -------------------------------------------------------------------------

def _marked_processes(token: str) -> list[tuple[int, str]]:
    """Processes (other than this one) whose environment carries our marker."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
                found.append((int(entry.name), cmd))
        except OSError:
            continue
    return found


def _namespaces() -> set[str]:
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _nft_tables() -> str | None:
    try:
        proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


@pytest.fixture
def leak_check(monkeypatch):
    """Mark every process the notebook starts; afterwards fail (and clean up) if any is left."""
    token = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, token)
    namespaces, tables = _namespaces(), _nft_tables()
    yield
    deadline = time.monotonic() + 8  # the kernel itself takes a moment to exit after shutdown
    left = _marked_processes(token)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _marked_processes(token)
    for pid, _cmd in left:  # ours (they carry our marker): stop them so one failure does not spread
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    new_namespaces = {n for n in _namespaces() - namespaces if n.startswith(NETLAB_PREFIX)}
    assert not left, f"the notebook left processes running: {left}"
    assert not new_namespaces, f"the notebook left network namespaces: {sorted(new_namespaces)}"
    assert _nft_tables() == tables, "the notebook left an nftables table in this namespace"


def _outputs(nb) -> str:
    """Every text and markdown output of an executed notebook, as one string."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(out["text"])
            for kind in ("text/plain", "text/markdown"):
                if kind in out.get("data", {}):
                    parts.append(out["data"][kind])
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, leak_check, monkeypatch):
    """Top to bottom, no edits; as root the capture and the emulated network are live."""
    monkeypatch.delenv(FORCE_RECORDED_ENV, raising=False)
    problem = privilege_problem()
    if problem and os.environ.get("CI"):
        pytest.fail(f"in CI the notebooks must run their live paths, but: {problem}", pytrace=False)
    text = _outputs(execute(NOTEBOOKS / name))
    if problem is None:
        assert "RECORDED capture" not in text, f"{name} fell back to a recorded capture although capture is permitted"
        assert "LIVE, port" in text, f"{name} showed no live capture"
        if name.startswith("06"):
            assert "(netlab)" in text, "lesson 6 did not use the emulated network"
        if name.startswith("09"):
            assert "emulated network up" in text and "No emulated network here" not in text, \
                "lesson 9 did not make its packets live in the emulated network"
    else:
        assert "RECORDED capture" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_privileges(name, leak_check, monkeypatch):
    """The laptop path: recorded captures with a visible note, the loopback experiment."""
    monkeypatch.setenv(FORCE_RECORDED_ENV, "1")
    text = _outputs(execute(NOTEBOOKS / name))
    assert "RECORDED capture" in text, f"{name}: no visible note about the recorded capture"
    assert "LIVE, port" not in text
    if name.startswith("06"):
        assert "No emulated network here" in text and "(loopback)" in text
    if name.startswith("09"):
        assert "No emulated network here" in text and text.count("✓") >= 17, "lesson 9's self-checks did not run"


FAILING = [
    ("code", "from lab import notebook as nb\nlesson = nb.Lesson('failing')\nserver = lesson.server()\n"
             "child = lesson.process_client(server, 'dora')\ncap = lesson.capture(server.address[1], '01-handshake')"),
    ("code", "raise RuntimeError('a cell fails half way through the lesson')"),
    ("code", "lesson.cleanup()"),
]


@pytest.mark.slow
def test_a_failing_cell_still_cleans_up(tmp_path, leak_check):
    """A notebook abandoned after an error leaves no process behind (atexit cleanup in the kernel)."""
    from nbclient.exceptions import CellExecutionError

    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS.parent / "tools" / "make_notebooks.py")
    make_notebooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_notebooks)
    path = tmp_path / "failing.ipynb"
    nbformat.write(make_notebooks.build(FAILING), path)
    with pytest.raises(CellExecutionError, match="a cell fails half way"):
        execute(path)
    # leak_check now verifies that the client process (and the kernel) are gone.

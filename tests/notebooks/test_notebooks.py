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

Both runs also check the lessons' self-checks: every cell that calls
``nb.check(`` printed its ✓ lines and no ✗ (a check that fails raises, so
the run fails first), every lesson has such cells, and the key claims
listed in REQUIRED_CLAIMS were among them: a lesson whose checks were
removed, or silently checked nothing, fails here.
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

from lab.notebook import FORCE_RECORDED_ENV
from lab.notebook.settings import NETLAB_PREFIX_ENV
from tests.helpers.privilege import privilege_problem
from tests.notebooks.run import NOTEBOOKS, execute

NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MARKER = "CHATLAB_NOTEBOOK_TEST"
CHECK_CALL = re.compile(r"\bnb\.check\(")

# The key claims about the wire each lesson must check (and print with ✓), live and recorded.
REQUIRED_CLAIMS = {
    "01": ["the SYN carries no data byte", "the SYN-ACK acknowledges the client's ISN + 1",
           "the third packet acknowledges the server's ISN + 1", "connect() returned after the SYN-ACK arrived",
           "on the same 4-tuple the ISN grows with the clock", "on another 4-tuple the ISN is unrelated",
           "the SYN takes one sequence number", "the ACK for the client's data is seq + length",
           "a SYN to a closed port is answered by an RST", "FIN takes one sequence number",
           "keeps the connection in TIME_WAIT"],
    "02": ["each connection has its own ephemeral port", "all of them use the same server port",
           "the protocol is part of the key", "alice's line crossed once to the server"],
    "03": ["the bytes on the wire are exactly the bytes sent", "recv() calls do not follow the send() calls",
           "never sent beyond the window", "every body left only after the ACK of its header",
           "delayed that ACK by about 40 ms", "no body waited for a delayed ACK"],
    "04": ["advertised a zero window", "never sent beyond the window", "the room froze",
           "blocked in sendall() to sleepy, holding the lock", "with the reference (threads) server the room",
           "with the selectors (one thread) server the room", "served all three members with one thread"],
    "05": ["closed connection 1 with a FIN", "FIN takes one sequence number", "ended connection 2 with an RST",
           "ended connection 3 with an RST", "data still flowed from the server (half-close)",
           "no longer exists is answered by an RST", "bind() fails without SO_REUSEADDR"],
    "06": ["each sendto() is one datagram", "no handshake and no acknowledgement",
           "what does not fit the buffer is discarded", "only a connected UDP socket hears",
           "TCP resent what the router dropped", "fewer than three duplicate ACKs",
           "TCP delivered every message, once, in order", "is a message lost for good",
           "the receiver's sequence numbers show every loss"],
    "07": ["TLS 1.3 adds one round trip", "22 bytes longer", "carries it in clear (SNI)", "names no server",
           "a record changed on the way is refused"],
    "08": ["the SYN-ACK acknowledges the client's ISN + 1", "both SYNs announce MSS 1460",
           "every RTT sample is at least the 40 ms", "no segment carries more than MSS 1460 - 12",
           "retransmitted segments", "the kernel's cwnd only grew", "the kernel's rto is at least its srtt + 200 ms",
           "congestion window is 1 segment", "doubled the RTO", "stayed silent until its timer expired",
           "the resent one as a duplicate (D-SACK)", "advertised a zero window", "probed the closed window",
           "the wait between probes doubled", "every byte of the book was acknowledged"],
    "09": ["our own kernel answered the SYN-ACK with an RST", "a complete three-way handshake",
           "our name line carries relative seq 1", "the server acknowledged our 9 bytes",
           "bob's chatlab client displayed our line", "a FIN from each side",
           "the server answered the wrong ACK with an RST", "the server read our name as 'allory'",
           "outside the window: no answer", "in the window but not exact: a challenge ACK",
           "the exact RST: the server's log says reset", "the room saw the member leave by RST",
           "over TLS too", "without SYN cookies the honest SYN was dropped",
           "with SYN cookies the honest client connected", "the honest client's SYN sent again"],
}


def test_there_are_nine_lessons():
    assert [n[:2] for n in NAMES] == ["01", "02", "03", "04", "05", "06", "07", "08", "09"], NAMES


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
    if "nb.compare(" in source:  # lesson 6 without root shows the TCP half of a recorded run
        from lab.notebook.tcp_vs_udp import RECORDED

        assert (LESSON_DATA / f"{RECORDED}-tcp.pcap").exists()
        assert "sent" in json.loads((LESSON_DATA / f"{RECORDED}.json").read_text())["tcp"]


@pytest.mark.parametrize("name", NAMES)
def test_every_lesson_has_self_checks(name):
    """The claims about the wire are checked in visible cells (nb.check), and the key ones are listed."""
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    assert any(c.cell_type == "code" and CHECK_CALL.search(c.source) for c in cells), f"{name} checks nothing"
    assert name[:2] in REQUIRED_CLAIMS, f"{name}: list its key claims in REQUIRED_CLAIMS"


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


def _nft_tables() -> set[str] | None:
    """The kit's nftables tables in this namespace (netlab's table name); other programs' tables are theirs."""
    from lab.net.netlab import NFT_TABLE

    try:
        proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return {line for line in proc.stdout.splitlines() if line.split()[-1:] == [NFT_TABLE]}


@pytest.fixture
def leak_check(monkeypatch):
    """Mark every process the notebook starts; afterwards fail (and clean up) if any is left."""
    token = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, token)
    # Our kernel's namespaces get a prefix of their own: other notebooks (another
    # test run on this machine) make nblabPID-... namespaces at the same time.
    prefix = f"nbt{token[:8]}"
    monkeypatch.setenv(NETLAB_PREFIX_ENV, prefix)
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
    new_namespaces = {n for n in _namespaces() - namespaces if n.startswith(prefix)}
    assert not left, f"the notebook left processes running: {left}"
    assert not new_namespaces, f"the notebook left network namespaces: {sorted(new_namespaces)}"
    assert _nft_tables() == tables, "the notebook left an nftables table in this namespace"


def _html_text(markup: str) -> str:
    """The text of an HTML output, one piece per element (what the browser shows of nb.show's views)."""
    from html.parser import HTMLParser

    pieces: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = pieces.append
    parser.feed(markup)
    parser.close()
    return "\n".join(piece for piece in pieces if piece.strip())


def _cell_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for kind in ("text/plain", "text/markdown"):
            if kind in out.get("data", {}):
                parts.append(out["data"][kind])
        if "text/html" in out.get("data", {}):   # a view's text/plain is wrapped at 80 columns; this is not
            parts.append(_html_text(out["data"]["text/html"]))
    return "\n".join(parts)


def assert_self_checks(name: str, nb) -> None:
    """Every nb.check cell printed ✓ lines and no ✗; the lesson's REQUIRED_CLAIMS all printed with ✓."""
    passed: list[str] = []
    checking = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and CHECK_CALL.search(c.source)]
    assert checking, f"{name}: no self-check cell ran"
    for i, cell in checking:
        text = _cell_text(cell)
        assert "✗" not in text, f"{name}, cell {i}: a claim failed:\n{text}"
        claims = [line for line in re.sub(r"\n  ", " ", text).splitlines() if line.startswith("✓ ")]
        assert claims, f"{name}, cell {i} (a self-check) printed no ✓ line:\n{text}"
        passed += claims
    missing = [claim for claim in REQUIRED_CLAIMS.get(name[:2], []) if not any(claim in line for line in passed)]
    assert not missing, f"{name}: these claims were not checked: {missing}"


def _outputs(nb) -> str:
    """Every text and markdown output of an executed notebook, as one string."""
    return "\n".join(_cell_text(cell) for cell in nb.cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, leak_check, monkeypatch):
    """Top to bottom, no edits; as root the capture and the emulated network are live."""
    monkeypatch.delenv(FORCE_RECORDED_ENV, raising=False)
    problem = privilege_problem()
    if problem and os.environ.get("CI"):
        pytest.fail(f"in CI the notebooks must run their live paths, but: {problem}", pytrace=False)
    executed = execute(NOTEBOOKS / name)
    text = _outputs(executed)
    if problem is None:
        assert "RECORDED capture" not in text, f"{name} fell back to a recorded capture although capture is permitted"
        assert "LIVE, port" in text, f"{name} showed no live capture"
        if name.startswith("06"):
            assert "(emulated network)" in text and "RECORDED run" not in text, \
                "lesson 6 did not use the emulated network"
        if name.startswith("09"):
            assert "emulated network up" in text and "No emulated network here" not in text, \
                "lesson 9 did not make its packets live in the emulated network"
    else:
        assert "RECORDED capture" in text
    assert_self_checks(name, executed)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_privileges(name, leak_check, monkeypatch):
    """The laptop path: recorded captures with a visible note, the loopback experiment."""
    monkeypatch.setenv(FORCE_RECORDED_ENV, "1")
    executed = execute(NOTEBOOKS / name)
    text = _outputs(executed)
    assert "RECORDED capture" in text, f"{name}: no visible note about the recorded capture"
    assert "LIVE, port" not in text
    if name.startswith("06"):
        assert "No emulated network here" in text and "UDP (loopback relay)" in text
        assert "TCP (RECORDED run)" in text, "lesson 6 without root must show the recorded TCP half"
    if name.startswith("09"):
        assert "No emulated network here" in text, "lesson 9 without root must say its experiments are recorded"
    assert_self_checks(name, executed)


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

"""chatlab sniff, doctor and demo as a user runs them."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"
CHATLAB = [sys.executable, "-m", "lab"]


def _run(args, timeout=60, env=None, prefix=()):
    return subprocess.run([*prefix, *CHATLAB, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "160", **(env or {})})


def _started(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """Wait for `chatlab sniff`'s "capturing" line on stderr (the capture runs from then on)."""
    ready, _, _ = select.select([proc.stderr], [], [], timeout)
    line = proc.stderr.readline() if ready else ""
    assert "chatlab sniff: capturing" in line, f"sniff did not start within {timeout:.0f} s: {line!r}"
    return line


def _without_capture() -> list[str]:
    """A prefix that runs a command without CAP_NET_RAW (root drops it from the bounding set)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to drop CAP_NET_RAW as root")
    return ["setpriv", "--bounding-set=-net_raw,-net_admin"]


def test_sniff_read_json():
    out = _run(["sniff", "--read", str(FIXTURES / "rst_close.pcap"), "--json"])
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["flags"] for r in rows] == ["S", "SA", "A", "AP", "A", "AP", "A", "AR"]
    assert rows[-1]["annotation"].startswith("RST")


def test_sniff_read_table_and_bad_file(tmp_path: Path):
    out = _run(["sniff", "--read", str(FIXTURES / "chat.pcap")])
    assert out.returncode == 0 and "SYN 1/3" in out.stdout
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all, sorry" * 3)
    out = _run(["sniff", "--read", str(bad)])
    assert out.returncode != 0 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_sniff_without_permission_says_how_to_grant():
    prefix = _without_capture()
    if not prefix and os.geteuid() != 0:
        from lab.capture.sniffer import capture_problem
        if capture_problem() is None:
            pytest.skip("this user may capture")
    out = _run(["sniff", "--port", "5050"], prefix=prefix, timeout=30)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "setcap" in lines[0] and "sudo" in lines[0]


def _sniff_a_refused_connection(*options: str) -> tuple[subprocess.Popen, str, str]:
    """`chatlab sniff --port P --count 2 OPTIONS` while a connect() to P (where nothing listens) is refused.

    Returns the finished process, its stdout and its stderr: the capture
    should hold the SYN and the RST that answered it.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([*CHATLAB, "sniff", "--port", str(port), "--count", "2", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "160"})
    try:
        _started(proc)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, out, err


@pytest.mark.privileged
def test_sniff_live_json_sees_a_connection():
    _, out, err = _sniff_a_refused_connection("--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["flags"] for r in rows] == ["S", "AR"], err
    assert re.search(r"2 packets; dropped: \d+ in the kernel, \d+ in the queue", err), err


def test_doctor_reports_every_check():
    out = _run(["doctor", "--json"])
    report = json.loads(out.stdout)
    names = {c["name"] for c in report["checks"]}
    assert {"packet capture", "libpcap", "loopback", "ip (iproute2)", "nft", "jupyter kernel", "free port"} <= names
    assert out.returncode == (0 if report["ok"] else 1)
    for check in report["checks"]:
        assert check["ok"] or check["fix"], check


def test_doctor_without_capture_permission_fails_with_the_fix():
    prefix = _without_capture()
    if not prefix:
        pytest.skip("needs root to drop the capability")
    out = _run(["doctor"], prefix=prefix)
    assert out.returncode == 1
    assert "setcap" in out.stdout and "FAIL" in out.stdout


SECTIONS = ("1. The packets", "2. Ladder diagram", "3. Connections", "4. The server's lifecycle log", "Done")


def test_demo_recorded_fallback(tmp_path: Path):
    out = _run(["demo", "--width", "120", "--write", str(tmp_path / "x.pcap")], env={"CHATLAB_DEMO_RECORDED": "1"},
               timeout=60)
    assert out.returncode == 0, out.stderr
    for section in SECTIONS:
        assert section in out.stdout, section
    assert "RECORDED" in out.stdout and "SYN 1/3" in out.stdout and "RST" in out.stdout
    assert "ACCEPTED" in out.stdout  # the lifecycle log of this run
    assert not (tmp_path / "x.pcap").exists()


def test_demo_without_permission_says_so_in_one_line():
    prefix = _without_capture()
    if not prefix:
        pytest.skip("needs root to drop the capability")
    out = _run(["demo", "--width", "120"], prefix=prefix, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Packet capture is not permitted" in out.stdout and "setcap" in out.stdout
    assert "RECORDED" in out.stdout


@pytest.mark.privileged
def test_demo_live_end_to_end(tmp_path: Path):
    pcap = tmp_path / "demo.pcap"
    out = _run(["demo", "--width", "120", "--write", str(pcap)], timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout[-2000:]
    for section in SECTIONS:
        assert section in out.stdout, section
    assert "LIVE capture" in out.stdout
    from lab.capture import annotate_with_streams, read_pcap
    anns, streams = annotate_with_streams(read_pcap(pcap))
    tcp = [s for s in streams if s.proto == "tcp"]
    assert len(tcp) == 3 and all(s.established for s in tcp)
    assert any(s.rst_from == "client" for s in tcp)
    assert any(s.ended == "FIN from both sides" for s in tcp)
    texts = [line for a in anns for line in a.text]
    assert any(t.startswith("/msg alice") for t in texts) and "/list" in texts


@pytest.mark.privileged
def test_sniff_live_table_and_write(tmp_path: Path):
    pcap = tmp_path / "out.pcap"
    proc, out, err = _sniff_a_refused_connection("--write", str(pcap))
    assert proc.returncode == 0, err
    assert "SYN 1/3" in out and "nothing listens" in out and "Connections" in out
    from lab.capture import read_pcap
    assert [s.flags for s in read_pcap(pcap)] == [0x02, 0x14]
    assert f"wrote 2 packets to {pcap}" in err

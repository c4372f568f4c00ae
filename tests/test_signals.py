"""The processes the tests start can be stopped with Ctrl-C, however the suite itself was started."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGINT_BIT = 1 << (signal.SIGINT - 1)


def ignored_signals_of_a_child() -> int:
    """The SigIgn mask of a process started the way the tests start clients."""
    status = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    (line,) = [line for line in status.splitlines() if line.startswith("SigIgn:")]
    return int(line.split()[1], 16)


def test_a_child_of_the_suite_does_not_ignore_ctrl_c():
    assert not ignored_signals_of_a_child() & SIGINT_BIT, "a chatlab client started by a test would ignore Ctrl-C"


def test_a_suite_started_with_ctrl_c_ignored_gives_its_children_ctrl_c_back():
    # What `nohup make test &` from a script does: SIGINT ignored from the start.
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"{Path(__file__).relative_to(ROOT)}::test_a_child_of_the_suite_does_not_ignore_ctrl_c"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

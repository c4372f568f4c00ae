"""tools/test_under_load.sh: the suite several times with busy processes beside it, and nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "test_under_load.sh"


def _busy_loops() -> list[str]:
    """PIDs of the script's busy processes still running (their command line is the loop)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"while :; do :; done" in cmdline:
                found.append(pid)
    return found


def _run(selection: str, runs: int, busy: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PY": sys.executable, "PYTEST_ARGS": selection}
    return subprocess.run(["bash", str(SCRIPT), str(runs), str(busy)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_runs_the_selection_each_time_under_load_and_stops_its_busy_processes():
    before = set(_busy_loops())
    done = _run("tests/chat/test_ratelimit.py", runs=2, busy=2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("with 2 busy processes beside it") == 2
    assert "== all 2 runs passed under load" in done.stdout
    assert set(_busy_loops()) <= before, "the busy processes outlived the script"


def test_a_failing_run_stops_the_loop_and_fails():
    done = _run("tests/chat/test_ratelimit.py -k no_such_test_here", runs=3, busy=1)  # pytest exits 5: no tests
    assert done.returncode == 1
    assert "== run 1 FAILED" in done.stdout and "run 2 of 3" not in done.stdout


LEAKY_TEST = '''
import subprocess, sys
def test_leaves_a_server_running():
    proc = subprocess.Popen([sys.executable, "-m", "lab", "server", "--port", "{port}"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    open("{pidfile}", "w").write(str(proc.pid))
'''


def test_a_run_that_leaves_a_kit_process_running_fails(tmp_path):
    from tests.helpers.chat import free_port

    pidfile = tmp_path / "pid"
    leaky = tmp_path / "test_leaky.py"
    leaky.write_text(LEAKY_TEST.format(port=free_port(), pidfile=pidfile))
    try:
        done = _run(str(leaky), runs=2, busy=1)
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), 9)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "== run 1 passed but left these processes running:" in done.stdout
    assert "-m lab server --port" in done.stdout and "run 2 of 2" not in done.stdout

"""lab/commands/running.py: SIGINT and SIGTERM stop a long-running command cleanly, even during start()."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from lab.commands.running import run_until_signal, stop_requested
from tests.helpers.chat import ROOT

# A "server" whose start() waits for a file, so a test can signal it *while it starts*.
CHILD = r"""
import os, sys, time
from lab.commands.running import run_until_signal

gate = sys.argv[1]

class Server:
    def start(self):
        print("starting", flush=True)
        deadline = time.monotonic() + 20
        while gate != "-" and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("started", flush=True)

    def stop(self):
        print("stopped", flush=True)

run_until_signal(Server(), lambda: print("announced", flush=True))
print("exit", flush=True)
"""


def child(gate: str = "-", sigint_ignored: bool = False) -> subprocess.Popen:
    def ignore_sigint():  # what a shell does to a background job (`chatlab server &`)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen([sys.executable, "-c", CHILD, gate], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=ignore_sigint if sigint_ignored else None)


def wait_line(proc: subprocess.Popen, text: str, timeout: float = 20) -> None:
    """Read the child's stdout until the line ``text`` (os.read: a file's readline hides data from select)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while text.encode() + b"\n" not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))
        assert ready, f"no {text!r} from the child; it said {seen!r}"
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, f"the child ended before {text!r}: {proc.stderr.read()}"
        seen += chunk
    proc.seen = seen.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_server_and_the_command_ends_normally(sig):
    proc = child()
    wait_line(proc, "announced")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert (proc.seen + out.decode()).split() == ["starting", "started", "announced", "stopped", "exit"]
    assert err == b""


def test_a_signal_during_start_waits_for_start_then_stops(tmp_path):
    gate = tmp_path / "gate"
    proc = child(str(gate))
    wait_line(proc, "starting")
    # Without a handler yet, SIGTERM's default action would kill the child right at kill(),
    # before the gate opens; the handler installed before start() only sets the event.
    proc.send_signal(signal.SIGTERM)
    gate.touch()
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, f"killed by the signal during start(): {proc.returncode} {err}"
    assert (proc.seen + out.decode()).split() == ["starting", "started", "announced", "stopped", "exit"]


def test_sigint_stops_a_background_job_whose_sigint_was_ignored():
    proc = child(sigint_ignored=True)
    wait_line(proc, "announced")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.decode().split() == ["stopped", "exit"]


class Recorder:
    def __init__(self, fail_start=False):
        self.calls, self.fail_start = [], fail_start

    def start(self):
        self.calls.append("start")
        if self.fail_start:
            raise OSError("port in use")

    def stop(self):
        self.calls.append("stop")


def test_a_failed_start_propagates_and_puts_the_handlers_back():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    server = Recorder(fail_start=True)
    with pytest.raises(OSError, match="port in use"):
        run_until_signal(server)
    assert server.calls == ["start"], "nothing started: nothing to stop"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_stop_runs_even_when_the_announcement_fails():
    server = Recorder()

    def announce():
        raise RuntimeError("the console is gone")

    with pytest.raises(RuntimeError):
        run_until_signal(server, announce)
    assert server.calls == ["start", "stop"]


def test_outside_the_main_thread_no_handler_is_touched():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def worker():
        with stop_requested() as stop:
            seen.append((stop.is_set(), signal.getsignal(signal.SIGTERM)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert seen == [(False, before)]


@pytest.mark.privileged
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_live_capture_ends_with_its_summary_on_a_signal(tmp_path, sig):
    from tests.helpers.chat import child_env, free_port

    out = tmp_path / "sniff.txt"
    with open(out, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "lab", "sniff", "--port", str(free_port())], cwd=ROOT,
                                env=child_env(), stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "apturing port" not in out.read_text():  # "Capturing port N on lo ... Ctrl-C to stop."
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(20) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "chatlab sniff: 0 packets" in out.read_text() and "Traceback" not in out.read_text()

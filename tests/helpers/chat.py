"""Real processes and real sockets for end-to-end tests.

``ChatServerProcess`` runs `chatlab server` as a child process and reads its
lifecycle events (JSON lines).  ``spawn_client`` runs `chatlab client` in a
pseudo-terminal with pexpect, as a person would.  ``LineClient`` is the
scripted member of lab/peer.py speaking the protocol, which is what `nc` does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lab.peer import Peer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (another process may still take it before we bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env() -> dict:
    env = dict(os.environ)
    # A dumb terminal: rich prints no colour codes, so expectations read plainly.
    env.update(TERM="dumb", COLUMNS="240", PYTHONUNBUFFERED="1", NO_COLOR="1")
    return env


class ChatServerProcess:
    """`chatlab server` in a child process, with its events in a JSON-lines file."""

    def __init__(self, tmp_path: Path, *extra: str, port: int | None = None):
        self.port = port or free_port()
        stamp = f"{self.port}-{time.monotonic_ns()}"  # a restarted server gets fresh files
        self.events_path = tmp_path / f"server-events-{stamp}.jsonl"
        self.output_path = tmp_path / f"server-output-{stamp}.txt"
        self._output = open(self.output_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--events", str(self.events_path), *extra],
            cwd=ROOT, env=child_env(), stdout=self._output, stderr=subprocess.STDOUT)
        self.wait_for(lambda e: e["kind"] == "listening", what="the server to listen")

    def events(self) -> list[dict]:
        try:
            text = self.events_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for(self, predicate, timeout: float = 10, what: str = "an event") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if predicate(event):
                    return event
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}) while waiting for {what}:\n"
                                     f"{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; events: {self.events()}")

    def output(self) -> str:
        if not self._output.closed:
            self._output.flush()
        return self.output_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._output.close()
        return self.proc.returncode


def spawn_client(port: int, name: str | None = None, *extra: str, timeout: float = 20, wait_prompt: bool = True,
                 term: str = "dumb", width: int = 240):
    """`chatlab client` in a pseudo-terminal (pexpect); with a name, ready to chat.

    The default terminal is dumb and very wide, so output reads plainly; a
    test of what the screen shows passes e.g. ``term="xterm-256color", width=40``.
    """
    import pexpect

    args = ["-m", "lab", "client", "127.0.0.1", "--port", str(port), *extra]
    if name:
        args += ["--name", name]
    env = child_env() | {"TERM": term, "COLUMNS": str(width)}
    child = pexpect.spawn(sys.executable, args, cwd=str(ROOT), env=env, encoding="utf-8",
                          timeout=timeout, dimensions=(50, width))
    if name and wait_prompt:
        child.expect_exact(f"{name}> ")
    return child


class LineClient:
    """A lab.peer.Peer on 127.0.0.1, with the regex expectations the end-to-end tests write.

    Like `nc`, it shows what the server sent as it is (lines are not
    cleaned), and ``send`` takes bytes too, to send exactly those.
    ``sock`` is the peer's socket, for tests that close it their own way.
    """

    def __init__(self, port: int, name: str | None = None, timeout: float = 10):
        self.peer = Peer(("127.0.0.1", port), name, timeout=timeout)
        self.sock = self.peer.sock

    def send(self, text: str | bytes) -> None:
        """A line (LF added) or, given bytes, exactly those bytes."""
        if isinstance(text, bytes):
            self.peer.send_bytes(text)
        else:
            self.peer.send(text)

    def lines(self, timeout: float = 0.5) -> list[str]:
        """Every complete line that arrives within ``timeout``."""
        return self.peer.read(quiet=timeout, limit=timeout)

    def expect(self, pattern: str, timeout: float = 10) -> str:
        """Read until a line matches the regex ``pattern``; return that line (an AssertionError if none does)."""
        try:
            return self.peer.expect(re.compile(pattern), timeout)[-1]
        except TimeoutError as error:
            raise AssertionError(str(error)) from None

    def close(self) -> None:
        self.peer.close()

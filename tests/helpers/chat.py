"""Real processes and real sockets for end-to-end tests.

``ChatServerProcess`` runs `chatlab server` as a child process and reads its
lifecycle events (JSON lines).  ``spawn_client`` runs `chatlab client` in a
pseudo-terminal with pexpect, as a person would.  ``LineClient`` is a raw
socket speaking the protocol, which is what `nc` does.
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

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
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
    """A raw TCP socket speaking the chat protocol, as `nc` would."""

    def __init__(self, port: int, name: str | None = None, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.seen: list[str] = []
        if name:
            self.expect(r"--- hello:")
            self.send(name)
            self.expect(r"--- welcome:")

    def send(self, text: str | bytes) -> None:
        self.sock.sendall(text if isinstance(text, bytes) else text.encode() + b"\n")

    def lines(self, timeout: float = 0.5) -> list[str]:
        """Every complete line that arrives within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                break
            if not data:
                break
            self.buffer += data
        return self._split()

    def expect(self, pattern: str, timeout: float = 10) -> str:
        """Read until a line matches ``pattern``; return it (earlier lines are kept in ``seen``)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.seen):
                if regex.search(line):
                    del self.seen[: i + 1]
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got {self.seen}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            if not data:
                raise AssertionError(f"connection closed before a line matched {pattern!r}; got {self.seen}")
            self.buffer += data
            self.seen.extend(self._split())

    def _split(self) -> list[str]:
        *complete, self.buffer = self.buffer.split(b"\r\n")
        return [line.decode("utf-8", "replace") for line in complete]

    def close(self) -> None:
        self.sock.close()

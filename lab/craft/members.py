"""The real chat around a hand-made connection: the server and a `chatlab client`, in namespace hosts.

Everything the crafted packets meet is the kit's ordinary code: the chat
server (lab.tcp.server.ChatServer, its lifecycle log in ``server.log``) runs
in the "server" host, and a member of the room is a real ``chatlab client``
process in a client host, whose screen (its standard output) is read line by
line.  Nothing is simulated.  Every wait has a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from lab.chat.limits import DEFAULT_PORT
from lab.net.netlab import NetlabError

ROOT = Path(__file__).resolve().parents[2]
CHAT_PORT = DEFAULT_PORT


def start_server(net, host: str = "server", port: int = CHAT_PORT, **config):
    """A started ChatServer listening on ``host``'s address (its sockets live in that namespace)."""
    from lab.lifecycle import EventLog
    from lab.tcp.server import ChatServer, ServerConfig

    config.setdefault("shutdown_grace", 0.3)
    server = ChatServer(ServerConfig(host=net.address(host), port=port, **config), log=EventLog(verbosity=0))
    with net.inside(host):
        server.start()  # the listening socket is made here, in the host's namespace
    return server


def events(server, kind: str | None = None) -> list[dict]:
    """The server's lifecycle events as dicts (the same ones ``chatlab server --events`` writes)."""
    return [e.to_dict() for e in list(server.log.events) if kind is None or e.kind == kind]


def wait_event(server, test, timeout: float = 5.0) -> dict | None:
    """The first lifecycle event (a dict) for which ``test`` is true, waiting at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        for event in events(server):
            if test(event):
                return event
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


class TerminalClient:
    """A real ``chatlab client`` process in a host of the emulated network; ``screen`` is what it printed.

    Its standard input is a pipe (so it reads lines to send from there) and
    its output is unbuffered, read by a thread.  ``stop()`` closes its input:
    the client leaves as a person's client does at end of input.
    """

    def __init__(self, net, host: str, server: tuple[str, int], name: str):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100", "TERM": "dumb"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.name = name
        self.screen: list[str] = []
        self._lock = threading.Lock()
        self.proc = net.popen(host, [sys.executable, "-m", "lab", "client", server[0], "--port", str(server[1]),
                                     "--name", name, "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env, cwd=str(ROOT))
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"screen-{name}")
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._lock:
                self.screen.append(line.rstrip("\n"))

    def lines(self) -> list[str]:
        """What the client printed so far."""
        with self._lock:
            return list(self.screen)

    def wait_for(self, text: str, timeout: float = 5.0) -> str | None:
        """The first printed line containing ``text``, waiting at most ``timeout`` s (None if it never came)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in self.lines() if text in line), None)
            if found is not None or time.monotonic() >= deadline or self.proc.poll() is not None:
                return found if found is not None else next((l for l in self.lines() if text in l), None)
            time.sleep(0.02)

    def joined(self, timeout: float = 8.0) -> None:
        """Wait until the server welcomed this client (raises NetlabError with its screen if not)."""
        if self.wait_for(f"you are {self.name}", timeout) is None:
            raise NetlabError(f"chatlab client {self.name!r} did not join within {timeout:g} s; it printed: "
                              + " | ".join(self.lines()[-5:]))

    def stop(self) -> int | None:
        """Close its input (it leaves), wait a little, kill it if it is still there; its exit status."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                return self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                return self.proc.wait(timeout=5)
        return self.proc.returncode

"""Lesson 4 helpers: a client that stops reading, against the naive and the reference server."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from lab.notebook.display import show, table
from lab.notebook.settings import HOST
from lab.peer import Peer as ChatPeer


@dataclass
class SlowReaderResult:
    """What happened to the room while one member stopped reading."""

    server: str
    sent: int = 0                 # lines alice managed to hand to her socket
    received_by_bob: int = 0      # of those, how many bob received
    alice_blocked: bool = False   # alice's own sendall() blocked: the server stopped reading her
    sleepy_dropped: str | None = None  # how the server ended sleepy's connection, if it did
    last_arrival_s: float | None = None  # when bob got his last line (seconds after alice began)
    watched_s: float = 0.0
    events: list = field(default_factory=list)

    @property
    def frozen(self) -> bool:
        return self.received_by_bob < self.sent or self.alice_blocked

    def row(self) -> dict:
        return {"server": self.server, "alice sent": self.sent, "bob received": self.received_by_bob,
                "alice blocked?": "yes" if self.alice_blocked else "no",
                "bob's last line at": "-" if self.last_arrival_s is None else f"{self.last_arrival_s:.2f} s",
                "sleepy": self.sleepy_dropped or "still connected",
                "verdict": "FROZEN: the room stopped" if self.frozen else "the room carried on"}


def slow_reader(kind: str = "reference", lines: int = 200, size: int = 400, watch: float = 3.0,
                port: int = 0) -> SlowReaderResult:
    """Three members: alice sends ``lines`` lines, bob reads, sleepy never reads.  Bounded by ``watch`` s.

    ``kind="naive"`` uses the tutorial server (lab.tcp.naive_server: one lock,
    blocking sendall); ``"reference"`` the lab's ChatServer with a small
    send queue (16 KiB), so its bound is reached in a fraction of a second.
    The server's flood limit is lifted (alice sends faster than 10 lines/s).
    Everything is closed before this function returns.
    """
    from lab.lifecycle import EventLog
    from lab.tcp.naive_server import NaiveChatServer
    from lab.tcp.server import ChatServer, ServerConfig

    if kind == "naive":
        server = NaiveChatServer(HOST, port, sndbuf=4096, nodelay=True)
        log = None
    else:
        log = EventLog(verbosity=0)
        server = ChatServer(ServerConfig(host=HOST, port=port, rate=1e6, burst=10**6, send_queue=16 * 1024,
                                         sndbuf=4096, shutdown_grace=0.2), log=log)
    result = SlowReaderResult(server="naive (tutorial)" if kind == "naive" else "reference (lab.tcp.server)",
                              watched_s=watch)
    peers: list[ChatPeer] = []
    try:
        server.start()
        sleepy = ChatPeer(server.address, "sleepy", rcvbuf=4096)  # reads nothing from now on
        peers.append(sleepy)
        bob = ChatPeer(server.address, "bob")
        peers.append(bob)
        alice = ChatPeer(server.address, "alice")
        peers.append(alice)
        bob.read(quiet=0.2)  # "alice joined"
        counted: list[float] = []
        began = time.monotonic()
        stop = threading.Event()

        def bob_reads() -> None:
            while not stop.is_set():
                for line in bob.read(quiet=0.1, limit=0.3):
                    if "<alice> line " in line:
                        counted.append(time.monotonic() - began)

        reader = threading.Thread(target=bob_reads, name="bob", daemon=True)
        reader.start()
        body = "x" * max(0, size - 20)
        alice.sock.settimeout(0.5)  # a sendall() that cannot finish in 0.5 s means the server stopped reading
        for i in range(1, lines + 1):
            try:
                alice.sock.sendall(f"line {i:05d} {body}\n".encode())
            except (TimeoutError, socket.timeout):
                result.alice_blocked = True
                break
            result.sent = i
            time.sleep(0.002)  # a fast typist, not a flood: bob has time to read
        deadline = began + watch
        while time.monotonic() < deadline and len(counted) < result.sent:
            time.sleep(0.05)
        time.sleep(0.3 if len(counted) < result.sent else 0)  # no late stragglers hiding
        stop.set()
        reader.join(1)
        result.received_by_bob = len(counted)
        result.last_arrival_s = counted[-1] if counted else None
    finally:
        # The server first: every member's connection then ends the same way
        # (shutdown), not in the order the notebook happens to close them.
        _stop_server(server)
        for peer in peers:
            peer.close()
    if log is not None:
        result.events = list(log.events)
        for event in log.of_kind("closed"):
            if getattr(event, "name", None) == "sleepy" and event.how == "dropped":
                result.sleepy_dropped = f"dropped: {event.detail}"
    return result


def _stop_server(server) -> None:
    """Stop a lab server; for the naive one, also wake its accept() so its thread ends now."""
    listener = getattr(server, "_listener", None)
    if listener is not None and not hasattr(server, "room"):
        # NaiveChatServer.stop() only close()s its listening socket, which does
        # not wake a thread blocked in accept() on Linux; shutdown() does.
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    server.stop()


def show_slow_reader(*results: SlowReaderResult) -> None:
    """The slow-reader experiments side by side."""
    rows = [r.row() for r in results]
    show(table(rows, "one member stops reading: what happens to the others?"))


def server_threads(settle: float = 0.3) -> list[str]:
    """Names of the threads the lab's servers run in this process (accept, client-N, ...).

    Waits ``settle`` seconds first, so that threads that are just starting or
    ending have done so.
    """
    time.sleep(settle)
    ours = ("accept", "client-", "backlog", "writer", "naive-accept")
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(ours))

"""Lesson 4 helpers: a member that stops reading, against the naive, the reference and the selectors server."""

from __future__ import annotations

import linecache
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from lab.notebook.display import show, table
from lab.notebook.settings import HOST
from lab.peer import Peer as ChatPeer

KINDS = {"naive": "naive (tutorial)", "reference": "reference (threads)", "selectors": "selectors (one thread)"}


@dataclass
class SlowReaderResult:
    """What happened to the room while one member stopped reading."""

    server: str
    sent: int = 0                 # lines alice handed to her socket
    received_by_bob: int = 0      # of those, how many bob received
    alice_client_blocked: bool = False  # alice's OWN sendall() could not finish: the server stopped reading her
    bob_heard: bool = False       # bob's line, sent after alice's burst, reached alice
    sleepy_dropped: str | None = None  # how the server ended sleepy's connection, if it did
    last_arrival_s: float | None = None  # when bob got his last line (seconds after alice began)
    watched_s: float = 0.0
    server_threads: int = 0       # threads the server ran while serving the three members
    threads: list = field(default_factory=list)  # (thread, where it is) for the naive server, while frozen
    lock_held: bool | None = None  # the naive server's lock, while frozen
    events: list = field(default_factory=list)

    @property
    def frozen(self) -> bool:
        """The room froze: bob missed some of alice's lines, or his own line never reached her."""
        return self.received_by_bob < self.sent or not self.bob_heard

    def row(self) -> dict:
        """One row of the lesson's table: the server, what was sent and received, sleepy's fate, the verdict."""
        return {"server": self.server, "threads": self.server_threads,
                "alice sent": self.sent, "bob received": self.received_by_bob,
                "bob's line reached alice": "yes" if self.bob_heard else "no",
                "sleepy": self.sleepy_dropped or "still connected",
                "verdict": "FROZEN" if self.frozen else "carried on"}


def slow_reader(kind: str = "reference", lines: int = 200, size: int = 400, watch: float = 3.0,
                port: int = 0) -> SlowReaderResult:
    """Three members: sleepy never reads, bob reads, alice sends ``lines`` lines; then bob says one line.

    ``kind``: "naive" (lab.tcp.naive_server: one lock, blocking sendall),
    "reference" (lab.tcp.server.ChatServer) or "selectors"
    (lab.tcp.selector_server: one thread), the last two with a 16 KiB bound
    per member so it is reached in a fraction of a second.  Every server
    gets SO_SNDBUF 4096 on its client sockets and sleepy a 4096-byte receive
    buffer, so the buffers between the server and sleepy fill quickly.
    Waits at most ``watch`` s for bob's lines and as long again for bob's
    line to reach alice.  For the naive server, while the room is frozen,
    also notes where each of its threads is (``threads``).  Everything is
    closed before this function returns.
    """
    from lab.lifecycle import EventLog
    from lab.tcp.naive_server import NaiveChatServer
    from lab.tcp.selector_server import SelectorChatServer
    from lab.tcp.server import ChatServer, ServerConfig

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    log = None if kind == "naive" else EventLog(verbosity=0)
    if kind == "naive":
        server = NaiveChatServer(HOST, port, sndbuf=4096, nodelay=True)
    elif kind == "selectors":
        server = SelectorChatServer(HOST, port, send_limit=16 * 1024, sndbuf=4096, log=log)
    else:
        server = ChatServer(ServerConfig(host=HOST, port=port, rate=1e6, burst=10**6, send_queue=16 * 1024,
                                         sndbuf=4096, shutdown_grace=0.2), log=log)
    result = SlowReaderResult(server=KINDS[kind], watched_s=watch)
    peers: list[ChatPeer] = []
    before = set(threading.enumerate())
    try:
        server.start()
        sleepy = ChatPeer(server.address, "sleepy", rcvbuf=4096)  # reads nothing from now on
        peers.append(sleepy)
        bob = ChatPeer(server.address, "bob")
        peers.append(bob)
        alice = ChatPeer(server.address, "alice")
        peers.append(alice)
        bob.expect("alice joined")
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
        if hasattr(server, "thread_names"):  # its readers are bare threads (lab.tcp.server.ReaderThreads)
            result.server_threads = len(server.thread_names())
        else:
            result.server_threads = len(set(threading.enumerate()) - before - {reader})
        body = "x" * max(0, size - 20)
        alice.sock.settimeout(0.5)  # a sendall() that cannot finish in 0.5 s means the server stopped reading
        for i in range(1, lines + 1):
            try:
                alice.sock.sendall(f"line {i:05d} {body}\n".encode())
            except (TimeoutError, socket.timeout):
                result.alice_client_blocked = True
                break
            result.sent = i
            time.sleep(0.002)  # a fast typist, not a flood: bob has time to read
        deadline = began + watch
        while time.monotonic() < deadline and len(counted) < result.sent:
            time.sleep(0.05)
        bob.send("bob: still there, alice?")
        try:
            alice.expect("still there", timeout=watch)
            result.bob_heard = True
        except TimeoutError:
            pass
        if kind == "naive":  # the room is frozen now: look at the server's threads
            result.threads = naive_thread_states(server)
            result.lock_held = server._lock.locked()
        stop.set()
        reader.join(1)
        result.received_by_bob = len(counted)
        result.last_arrival_s = counted[-1] if counted else None
    finally:
        # The server first: every member's connection then ends the same way
        # (shutdown), not in the order the notebook happens to close them.
        server.stop()
        for peer in peers:
            peer.close()
    if log is not None:
        result.events = list(log.events)
        for event in log.of_kind("closed"):
            if getattr(event, "name", None) == "sleepy" and event.how == "dropped":
                result.sleepy_dropped = f"dropped: {event.detail}"
    return result


def naive_thread_states(server) -> list[tuple[str, str]]:
    """Where each client thread of a NaiveChatServer is right now: (whose thread, what it does).

    Read from the threads' Python stacks (``sys._current_frames()``): the
    innermost frame in lab/tcp/naive_server.py, its line of code, and for a
    ``sendall()`` the member it sends to.  This is the evidence behind "the
    thread is blocked in sendall(), holding the lock".
    """
    frames = sys._current_frames()
    names = {sock: name for sock, name in list(server._members.items())}
    out = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident)
        stack = []
        while frame is not None:
            if frame.f_code.co_filename.endswith("naive_server.py"):
                stack.append(frame)
            frame = frame.f_back
        client = next((f for f in stack if f.f_code.co_name == "_client"), None)
        if client is None:
            continue
        whose = names.get(client.f_locals.get("sock"), "a client")
        inner = stack[0]
        code = linecache.getline(inner.f_code.co_filename, inner.f_lineno).strip()
        if inner.f_code.co_name == "_broadcast" and "sendall" in code:
            target = names.get(inner.f_locals.get("member"), "a member")
            what = f"blocked in sendall() to {target}, inside `with self._lock`"
        elif "self._lock" in code:
            what = "waiting to take the lock"
        elif "recv" in code:
            what = f"in recv(), waiting for {whose}'s next line"
        else:
            what = f"in {inner.f_code.co_name}(): {code}"
        out.append((f"{whose}'s thread", what))
    return sorted(out)


def show_slow_reader(*results: SlowReaderResult) -> None:
    """The slow-reader experiments side by side."""
    rows = [r.row() for r in results]
    show(table(rows, "one member stops reading: what happens to the others?"))


def show_threads(result: SlowReaderResult) -> None:
    """The naive server's threads while the room was frozen."""
    rows = [{"server thread": who, "where it was while the room was frozen": what} for who, what in result.threads]
    state = "held" if result.lock_held else "free"
    show(table(rows, f"inside the naive server (the room's lock was {state})"))


def server_threads(server=None, timeout: float = 3.0) -> list[str]:
    """Names of the threads the lab's servers run in this process (accept, client-N, ...).

    With ``server`` (a lab.tcp.server.ChatServer), first waits (at most
    ``timeout`` s) until it runs one client thread per connection it has:
    threads that are starting or ending have then done so.
    """
    ours = ("accept", "client-", "backlog", "writer", "naive-accept", "selector-loop")

    def names() -> list[str]:
        if server is not None and hasattr(server, "thread_names"):
            # The reference server's reader threads are bare threads, which
            # threading.enumerate() does not list: the server names its own.
            return sorted(server.thread_names())
        return sorted(t.name for t in threading.enumerate() if t.name.startswith(ours))

    if server is not None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = [n for n in names() if n.startswith("client-")]
            if len(running) == server.connection_count():
                break
            time.sleep(0.02)
    return names()

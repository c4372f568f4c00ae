"""How the server's bytes reach each client without one slow client stalling the room.

The tutorial design sends to every member with a blocking ``sendall`` while
holding the room's lock.  It works until one member stops reading: its
kernel send buffer fills, ``sendall`` blocks forever, the lock is never
released, and the whole room freezes.  (docs/PERFORMANCE.md tells the story,
with measurements.)

Here, every member has an ``Outbox``:

* the thread that handles a message calls ``push`` for each recipient.
  ``push`` tries a *non-blocking* ``send`` (``MSG_DONTWAIT``) straight to
  the recipient's socket.  Almost always the kernel takes all of it and we
  are done: no queue, no extra thread, no context switch;
* if the kernel takes only part (the recipient is slow and its socket
  buffer is full), the rest waits in the outbox's *backlog*, and one shared
  ``BacklogWriter`` thread sends it when the socket becomes writable;
* the backlog is bounded.  Past ``limit`` bytes the member is dropped with
  "send queue exceeded", and everyone else carries on.

Every outbox shares one *delivery lock* with the server (the same lock that
guards the room).  A broadcast holds it from the room's decision to the
last recipient: broadcasts never interleave, so every member sees the same
order of messages, and threads do not fight over a thousand small locks.
Holding one lock for a whole broadcast is safe only because nothing done
under it can block: every send is non-blocking.  (Measured: with a lock per
outbox, 50 senders broadcasting at once to 1,000 members contended so much
that p99 latency reached 840 ms; see docs/PERFORMANCE.md.)
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from typing import Callable

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # a closed peer gives EPIPE, not SIGPIPE
SEND_FLAGS = _DONTWAIT | _NOSIGNAL


class Outbox:
    """The bytes on their way to one member, with a bounded backlog.

    ``lock`` is the delivery lock shared by every outbox of a server.
    ``push_locked`` is the hot path and expects it held; ``push`` takes it.
    ``encode`` turns plaintext into wire bytes (None for plain TCP, TLS
    encryption otherwise); it runs under the lock so records leave in the
    order they were made.  ``on_overflow`` is called once, when the backlog
    would exceed ``limit``; it must not block.
    """

    __slots__ = ("sock", "writer", "limit", "lock", "on_overflow", "encode", "backlog", "closed", "broken",
                 "bytes_out", "lines_out", "peak_backlog", "__weakref__")

    def __init__(self, sock: socket.socket, writer: "BacklogWriter", limit: int, lock: threading.Lock,
                 on_overflow: Callable[[], None], encode: Callable[[bytes], bytes] | None = None):
        self.sock = sock
        self.writer = writer
        self.limit = limit
        self.lock = lock
        self.on_overflow = on_overflow
        self.encode = encode
        self.backlog = bytearray()
        self.closed = False
        self.broken = False  # the socket failed (reset, broken pipe)
        self.bytes_out = 0
        self.lines_out = 0
        self.peak_backlog = 0

    def push(self, data: bytes, wire: bool = False) -> None:
        """Queue ``data`` for this member, taking the delivery lock; never blocks.

        ``wire=True`` means the bytes are already in wire form (e.g. a TLS
        close_notify record) and must not be encoded again.
        """
        with self.lock:
            self.push_locked(data, data.count(b"\n"), wire)

    def push_locked(self, data: bytes, lines: int, wire: bool = False) -> None:
        """``push`` for a caller that holds the delivery lock (a broadcast loop)."""
        if self.closed:
            return
        self.lines_out += lines
        if self.encode is not None and not wire:
            data = self.encode(data)
            if not data:
                return
        if self.backlog:
            if len(self.backlog) + len(data) > self.limit:
                self.closed = True
                self.backlog.clear()
                self.on_overflow()
            else:
                self.backlog += data
                if len(self.backlog) > self.peak_backlog:
                    self.peak_backlog = len(self.backlog)
            return
        try:
            sent = self.sock.send(data, SEND_FLAGS)
        except BlockingIOError:
            sent = 0
        except OSError:
            # Reset or broken pipe: the member's reader thread will see the
            # same failure on recv() and end the connection with the reason.
            self.broken = True
            return
        self.bytes_out += sent
        if sent < len(data):
            self.backlog += memoryview(data)[sent:]
            self.peak_backlog = max(self.peak_backlog, len(self.backlog))
            self.writer.want_write(self)

    def flush_some(self) -> bool:
        """Send what the kernel will take now; True when nothing is left to send."""
        with self.lock:
            while self.backlog and not (self.closed or self.broken):
                try:
                    sent = self.sock.send(self.backlog, SEND_FLAGS)
                except BlockingIOError:
                    return False
                except OSError:
                    self.broken = True
                    break
                self.bytes_out += sent
                del self.backlog[:sent]
            return True

    def close(self, flush_timeout: float = 0.0) -> None:
        """Accept no more data; first try to send the backlog for up to ``flush_timeout`` s.

        Called by the member's own reader thread when the connection ends,
        so waiting here delays nobody else (the lock is only taken for each
        non-blocking attempt, never while waiting).
        """
        deadline = time.monotonic() + flush_timeout
        while flush_timeout > 0 and not self.flush_some():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                with selectors.DefaultSelector() as selector:
                    selector.register(self.sock, selectors.EVENT_WRITE)
                    selector.select(min(remaining, 0.1))
            except (OSError, ValueError):
                break
        with self.lock:
            self.closed = True
            self.backlog.clear()
        self.writer.forget(self)


class BacklogWriter(threading.Thread):
    """One thread that drains every outbox whose kernel buffer was full.

    Outboxes ask for service with ``want_write``; the thread waits with a
    selector until their sockets are writable again.  Requests arrive from
    other threads through a list and a wake-up socket pair, because a
    selector must only be changed by the thread that waits on it.
    """

    def __init__(self) -> None:
        super().__init__(name="backlog-writer", daemon=True)
        self._selector = selectors.DefaultSelector()
        self._wake_recv, self._wake_send = socket.socketpair()
        self._wake_recv.setblocking(False)
        self._wake_send.setblocking(False)
        self._selector.register(self._wake_recv, selectors.EVENT_READ, None)
        self._requests: list[tuple[bool, Outbox]] = []
        self._lock = threading.Lock()
        self._stopping = False

    def want_write(self, outbox: Outbox) -> None:
        self._request(True, outbox)

    def forget(self, outbox: Outbox) -> None:
        self._request(False, outbox)

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        if self.is_alive():
            self.join(timeout=2)

    def _request(self, add: bool, outbox: Outbox) -> None:
        with self._lock:
            self._requests.append((add, outbox))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_send.send(b"!")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending, or we are shutting down

    def run(self) -> None:
        registered: dict[Outbox, int] = {}
        try:
            while not self._stopping:
                for key, _ in self._selector.select(timeout=1.0):
                    outbox = key.data
                    if outbox is None:
                        self._drain_wakeups()
                    elif outbox.flush_some():
                        self._unregister(registered, outbox)
                with self._lock:
                    requests, self._requests = self._requests, []
                for add, outbox in requests:
                    if add and not outbox.closed and outbox not in registered:
                        self._register(registered, outbox)
                    elif not add:
                        self._unregister(registered, outbox)
        finally:
            self._selector.close()
            self._wake_recv.close()
            self._wake_send.close()

    def _register(self, registered: dict, outbox: Outbox) -> None:
        try:
            fd = outbox.sock.fileno()
            if fd < 0:
                return
            stale = self._selector.get_map().get(fd)
            if stale is not None:  # a closed socket's number, reused
                self._unregister(registered, stale.data)
            self._selector.register(fd, selectors.EVENT_WRITE, outbox)
            registered[outbox] = fd
        except (OSError, ValueError, KeyError):
            pass

    def _unregister(self, registered: dict, outbox: Outbox) -> None:
        fd = registered.pop(outbox, None)
        if fd is None:
            return
        try:
            key = self._selector.get_map().get(fd)
            if key is not None and key.data is outbox:
                self._selector.unregister(fd)
        except (OSError, ValueError, KeyError):
            pass

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_recv.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

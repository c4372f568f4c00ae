"""How the server's bytes reach each client without one slow client stalling the room.

The tutorial design sends to every member with a blocking ``sendall`` while
holding the room's lock.  It works until one member stops reading: its
kernel send buffer fills, ``sendall`` blocks forever, the lock is never
released, and the whole room freezes.  (docs/PERFORMANCE.md tells the story,
with measurements.)

Here, delivery has two steps.

1. **Queue.**  The thread that handled a line (under the room's lock, so
   every member gets lines in the same order) appends the bytes to each
   recipient's ``Outbox.pending`` list with :meth:`Fanout.queue`.  That is
   a list append per member: no system call, nothing that can block.

2. **Send, in passes.**  One thread at a time (whoever holds the
   *delivery lock*) walks the outboxes that have something pending and
   gives each one everything it has in **one** non-blocking ``send``
   (``MSG_DONTWAIT``).  Lines queued while a pass is running are picked
   up by that same pass for every member it has not reached yet, and by
   the next pass for the others, so a line waits at most about one pass.
   Other threads do not wait for the delivery lock: if it is taken, they
   leave their lines to the thread that holds it.

When the kernel takes only part of the bytes (the member is slow and its
socket buffer is full), the rest waits in the outbox's *backlog*, and one
shared ``BacklogWriter`` thread sends it when the socket becomes writable.
The backlog is bounded: past ``limit`` bytes the member is dropped with
"send queue exceeded", and everyone else carries on.

Holding one lock for a whole pass is safe only because nothing done under
it can block: every send is non-blocking.  Measured on a 2-core machine at
1,000 members (docs/PERFORMANCE.md): a small lock per outbox, with 50
threads fanning out at once, reached a p99 latency of 840 ms; one broadcast
at a time brought it to about 20 ms; with passes that pick up new lines on
the way, a line waits about one pass, so p99 follows what a pass costs
(about 1,000 loopback sends: 15 ms there).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from typing import Callable, Iterable, Iterator

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # a closed peer gives EPIPE, not SIGPIPE
SEND_FLAGS = _DONTWAIT | _NOSIGNAL


class Fanout:
    """The delivery lock and the outboxes waiting for a pass (see the module docstring).

    Thread safety of ``Outbox.pending`` relies on two orders, which the
    GIL makes atomic step by step: :meth:`queue` *appends, then* marks the
    outbox waiting; a pass *clears the mark, then* takes what is pending.
    Whatever the interleaving, a line is either taken by the pass or its
    outbox is put back on the waiting list for the next one.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the delivery lock: one thread sends at a time
        self._waiting_lock = threading.Lock()  # guards _waiting (held for list appends only)
        self._waiting: list[Outbox] = []  # outboxes with pending bytes, in the order they got them
        self.passes = 0  # passes run so far, and outboxes they visited (for tests and curious students)
        self.visits = 0

    def queue(self, outboxes: Iterable["Outbox"], data: bytes) -> None:
        """Give ``data`` to each outbox, in order after what it already has; never blocks.

        Call it under the lock that orders the room's decisions, so every
        member receives the lines in the same order.
        """
        with self._waiting_lock:
            waiting = self._waiting
            for outbox in outboxes:
                outbox.pending.append(data)
                if not outbox.waiting:
                    outbox.waiting = True
                    waiting.append(outbox)

    def deliver(self, wait: bool = False) -> None:
        """Send everything queued so far.

        ``wait=False`` (a chat line): if another thread holds the delivery
        lock, return at once; that thread sends our lines.  ``wait=True``
        (shutting down): return only when everything queued before the call
        is with the kernel or in a backlog.
        """
        if self.lock.acquire(blocking=wait):
            self._release()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the delivery lock for one outbox's own work; on the way out, run the passes others left us."""
        self.lock.acquire()
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        """Run passes while holding the lock, release it, and make sure nothing is stranded.

        A thread whose ``acquire(blocking=False)`` failed left its lines to
        us; they may have been queued just after our last pass, so after
        releasing we look once more and, if anything is waiting, try again.
        """
        while True:
            try:
                self._passes()
            finally:
                self.lock.release()
            if not self._waiting or not self.lock.acquire(blocking=False):
                return

    def _passes(self) -> None:
        """Send to every waiting outbox, over and over until none is waiting (lock held)."""
        while True:
            with self._waiting_lock:
                batch, self._waiting = self._waiting, []
            if not batch:
                return
            self.passes += 1
            self.visits += len(batch)
            for outbox in batch:  # the hot loop: one turn per member per pass
                outbox.waiting = False  # first: a line queued from now on puts it back on the list
                pending = outbox.pending  # take_pending(), inlined
                n = len(pending)
                if not n:
                    continue
                data = pending[0] if n == 1 else b"".join(pending[:n])
                del pending[:n]
                if outbox.encode is not None or outbox.backlog or outbox.closed:
                    outbox.push_locked(data)  # TLS, a slow member, or a closed one: the general path
                    continue
                # push_locked() inlined for the common case (plain TCP, nothing in the
                # backlog): a pass makes 1,000 of these, and the call alone costs a few
                # per cent of a send
                try:
                    sent = outbox.sock.send(data, SEND_FLAGS)
                except OSError:  # would block, reset, broken pipe: let the general path decide
                    outbox.push_locked(data)
                    continue
                outbox.bytes_out += sent
                outbox.lines_out += data.count(b"\n")
                if sent < len(data):
                    outbox.keep(data, sent)


class Outbox:
    """The bytes on their way to one member: pending, then with the kernel, or in a bounded backlog.

    ``pending`` holds lines queued by :meth:`Fanout.queue` for the next
    pass.  ``push_locked`` hands bytes to the socket and expects the
    delivery lock held; ``push`` is for the member's own thread (an error
    reply) and takes it.  ``encode`` turns plaintext into wire bytes (None
    for plain TCP, TLS encryption otherwise); it runs under the lock so
    records leave in the order they were made.  ``on_overflow`` is called
    once, when the backlog would exceed ``limit``; it must not block.
    """

    __slots__ = ("sock", "writer", "limit", "fanout", "on_overflow", "encode", "pending", "waiting", "backlog",
                 "closed", "broken", "bytes_out", "lines_out", "peak_backlog", "__weakref__")

    def __init__(self, sock: socket.socket, writer: "BacklogWriter", limit: int, fanout: Fanout,
                 on_overflow: Callable[[], None], encode: Callable[[bytes], bytes] | None = None):
        self.sock = sock
        self.writer = writer
        self.limit = limit
        self.fanout = fanout
        self.on_overflow = on_overflow
        self.encode = encode
        self.pending: list[bytes] = []  # queued, not yet handed to the kernel
        self.waiting = False  # on the fanout's waiting list
        self.backlog = bytearray()  # the kernel did not take these yet
        self.closed = False
        self.broken = False  # the socket failed (reset, broken pipe)
        self.bytes_out = 0
        self.lines_out = 0
        self.peak_backlog = 0

    def take_pending(self) -> bytes:
        """Remove and return everything pending, joined (b"" if nothing).

        Two atomic list operations (read the first n, delete the first n):
        a line appended in between stays, for the next pass.
        """
        pending = self.pending
        n = len(pending)
        if n == 0:
            return b""
        data = pending[0] if n == 1 else b"".join(pending[:n])
        del pending[:n]
        return data

    def push(self, data: bytes, wire: bool = False) -> None:
        """Send ``data`` to this member now (after what is pending for it); never blocks.

        ``wire=True`` means the bytes are already in wire form (e.g. a TLS
        close_notify record) and must not be encoded again.
        """
        with self.fanout.holding():
            self._push_pending()
            self.push_locked(data, wire)

    def _push_pending(self) -> None:
        earlier = self.take_pending()
        if earlier:
            self.push_locked(earlier)

    def push_locked(self, data: bytes, wire: bool = False) -> None:
        """Hand ``data`` to the socket, or to the backlog behind what is already waiting (lock held)."""
        if self.closed:
            return
        self.lines_out += data.count(b"\n")
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
            self.keep(data, sent)

    def keep(self, data: bytes, sent: int) -> None:
        """The kernel took only ``sent`` bytes of ``data``: keep the rest for the writer thread (lock held)."""
        self.backlog += memoryview(data)[sent:]
        self.peak_backlog = max(self.peak_backlog, len(self.backlog))
        self.writer.want_write(self)

    def flush_some(self) -> bool:
        """Send what the kernel will take now; True when nothing is left to send."""
        with self.fanout.holding():
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
        """Accept no more data; first try to send what is pending and the backlog for up to ``flush_timeout`` s.

        Called by the member's own reader thread when the connection ends,
        so waiting here delays nobody else (the lock is only taken for each
        non-blocking attempt, never while waiting).
        """
        with self.fanout.holding():
            self._push_pending()
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
        with self.fanout.holding():
            self.closed = True
            self.backlog.clear()
            self.pending.clear()
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
        """Send ``outbox``'s backlog whenever its socket becomes writable (from any thread)."""
        self._request(True, outbox)

    def forget(self, outbox: Outbox) -> None:
        """Stop watching ``outbox`` (it is closed), from any thread."""
        self._request(False, outbox)

    def stop(self) -> None:
        """Stop the thread and wait for it (up to 2 s)."""
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
        """The thread: wait until a watched socket is writable, send its backlog, repeat."""
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

"""How the server's bytes reach each client without one slow client stalling the room.

The tutorial design sends to every member with a blocking ``sendall`` while
holding the room's lock.  It works until one member stops reading: its
kernel send buffer fills, ``sendall`` blocks forever, the lock is never
released, and the whole room freezes.  (docs/PERFORMANCE.md tells the story,
with measurements.)

Here, delivery has two steps.

1. **Queue a decision.**  The thread that handled a line (under the room's
   lock, so that decisions are queued in the order they were made) queues
   *one* :class:`Decision`: the bytes and who receives them.  A broadcast
   (:meth:`Fanout.broadcast`) goes to every member who has joined, except
   perhaps one (the sender); other lines (:meth:`Fanout.queue`) go to the
   outboxes named.  Queueing is a list append: no system call, nothing that
   can block, and no work per member.

2. **Send, one pass per decision.**  One thread at a time (whoever holds the
   *delivery lock*) takes the queued decisions, oldest first, and walks
   each one's recipients with a non-blocking ``send`` (``MSG_DONTWAIT``)
   each.  The common turn of that loop is the tutorial's own: one ``send``
   of the same bytes to the next socket.  Other threads do not wait for the
   delivery lock: if it is taken, they leave their decisions to the thread
   that holds it.

   **Lines that arrive during a pass ride on it.**  When decisions are
   waiting behind the one being sent (queued before the pass began, or
   during it), each member still to be visited gets, in the same ``send``,
   this line *and* every waiting line meant for it, in order; the later
   passes then skip the members already served.  So a line waits about one
   pass at most, and a burst leaves in one ``send`` per member, not one per
   line.

When the kernel takes only part of the bytes (the member is slow and its
socket buffer is full), the rest waits in the outbox's *backlog*, and one
shared ``BacklogWriter`` thread sends it when the socket becomes writable.
The backlog is bounded: past ``limit`` bytes the member is dropped with
"send queue exceeded", and everyone else carries on.

Holding one lock for a whole pass is safe only because nothing done under
it can block: every send is non-blocking.

Why the hot loop walks *sockets* and counts nothing per member (perf
record on the server process at make bench's goal load, 1,000 clients,
100,000 deliveries/s, 8 s, against the tutorial server in the same hour):
the kernel's part was the same for both, 3.0 s of CPU, and the difference
was all Python's, 1.15 s against 0.33 s.  The loop then walked each
decision's outboxes and called the bound ``send`` kept on each one: a
lookup CPython 3.11 does not specialise (``_PyObject_GetMethod`` into
``PyMember_GetOne``, 4 % of the server's CPU on its own), and three
objects fetched from memory per member (the outbox, its bound method, the
socket), plus two counters written, where the tutorial's loop touches the
socket alone.  Now a broadcast's targets are the sockets themselves, the
loop's only other look is at the ``slow`` set (empty while everyone
reads), and the counters come from running totals (:class:`Outbox`):
Python's part fell to about 0.5 s, and the CPU ratio to the tutorial
server to about 1.0 (medians of 1.00, 0.95 and 1.04 in three bench runs;
docs/PERFORMANCE.md has the tables).
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from itertools import chain, islice
from typing import Callable, Iterable

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # a closed peer gives EPIPE, not SIGPIPE
SEND_FLAGS = _DONTWAIT | _NOSIGNAL


class Decision:
    """Bytes for some members, queued in the order the room decided.

    ``targets`` are the members' *sockets*, in send order: the hot loop
    touches nothing else per member.  A *broadcast* (``broadcast=True``) is
    counted for its recipients all at once (see :class:`Outbox`), and its
    ``skip`` (a socket, or None) is one of the targets that does not
    receive it (the sender of the line).  ``unserved`` exists only once a
    pass gives this decision to members ahead of its own pass (the
    ride-along in the module docstring): the targets that do not have it
    yet, which are all its own pass still visits.
    """

    __slots__ = ("data", "lines", "targets", "broadcast", "skip", "unserved")

    def __init__(self, data: bytes, targets: tuple[socket.socket, ...], broadcast: bool = False,
                 skip: socket.socket | None = None):
        self.data = data
        self.lines = data.count(b"\n")  # counted once here, not once per member
        self.targets = targets
        self.broadcast = broadcast
        self.skip = skip
        self.unserved: set[socket.socket] | None = None

    def unserved_set(self) -> set[socket.socket]:
        """The targets still to be given this decision (created on first use)."""
        if self.unserved is None:
            self.unserved = set(self.targets)
            self.unserved.discard(self.skip)
        return self.unserved


class Fanout:
    """The delivery lock, the queued decisions, and the members a broadcast reaches (module docstring).

    ``everyone`` is the tuple of joined members' sockets in join order,
    rebuilt on every join and leave (copy on write, like the room's
    members), so a broadcast takes it as it is at the moment of the
    decision.  ``outbox_of`` finds a socket's outbox, and ``slow`` holds the
    sockets whose outbox cannot take a plain ``send`` now (TLS, a backlog,
    closed): the hot loop looks at nothing else.  ``broadcast_bytes`` and
    ``broadcast_lines`` add up every broadcast so far, which is how each
    outbox counts what it received without a counter per member per line.

    :meth:`join`, :meth:`leave`, :meth:`broadcast` and :meth:`queue` must be
    called under the one lock that orders the room's decisions.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # the delivery lock: one thread sends at a time
        self._queue_lock = threading.Lock()  # guards _queued (held for an append or a swap)
        self._queued: list[Decision] = []  # decisions not yet taken by a pass, oldest first
        self.everyone: tuple[socket.socket, ...] = ()
        self.outbox_of: dict[socket.socket, Outbox] = {}
        self.slow: set[socket.socket] = set()
        self.broadcast_bytes = 0
        self.broadcast_lines = 0
        self.passes = 0  # passes that sent something, and the sends they made (for tests and curious students)
        self.visits = 0

    # -- membership and decisions (under the caller's ordering lock) -----------------------

    def join(self, outbox: "Outbox") -> None:
        """From now on, broadcasts reach ``outbox`` (after every member who joined before)."""
        if outbox.joined:
            return
        outbox.joined = True
        outbox.joined_at = (self.broadcast_bytes, self.broadcast_lines)
        self.everyone = self.everyone + (outbox.sock,)

    def leave(self, outbox: "Outbox") -> None:
        """Broadcasts stop reaching ``outbox`` (those already queued still do)."""
        if not outbox.joined:
            return
        outbox.joined = False
        bytes_at_join, lines_at_join = outbox.joined_at
        outbox.counted_bytes += self.broadcast_bytes - bytes_at_join  # the broadcasts of its time in the room
        outbox.counted_lines += self.broadcast_lines - lines_at_join
        outbox.joined_at = None
        self.everyone = _without(self.everyone, outbox.sock)

    def broadcast(self, data: bytes, skip: "Outbox | None" = None) -> None:
        """Queue ``data`` for every joined outbox except ``skip``; never blocks, no work per member."""
        targets = self.everyone
        if not targets:
            return
        decision = Decision(data, targets, broadcast=True)
        self.broadcast_bytes += len(data)
        self.broadcast_lines += decision.lines
        if skip is not None and skip.joined:
            decision.skip = skip.sock
            skip.not_counted(len(data), decision.lines)  # a broadcast it does not receive
        if len(targets) > (decision.skip is not None):
            self._append(decision)

    def queue(self, outboxes: Iterable["Outbox"], data: bytes) -> None:
        """Queue ``data`` for these outboxes, after everything queued before; never blocks."""
        targets = tuple(outbox.sock for outbox in outboxes)
        if targets:
            self._append(Decision(data, targets))

    def _append(self, decision: Decision) -> None:
        with self._queue_lock:
            self._queued.append(decision)

    def add(self, outbox: "Outbox") -> None:
        """A new outbox: passes find it by its socket from now on."""
        self.outbox_of[outbox.sock] = outbox
        if not outbox.direct:
            self.slow.add(outbox.sock)

    def forget(self, outbox: "Outbox") -> None:
        """A closed outbox: nothing is sent to it any more (delivery lock held)."""
        if self.outbox_of.get(outbox.sock) is outbox:
            del self.outbox_of[outbox.sock]
        self.slow.discard(outbox.sock)

    # -- sending ----------------------------------------------------------------------

    def deliver(self, wait: bool = False) -> None:
        """Send everything queued so far.

        ``wait=False`` (a chat line): if another thread holds the delivery
        lock, return at once; that thread sends our lines.  ``wait=True``
        (shutting down): return only when everything queued before the call
        is with the kernel or in a backlog.
        """
        if self.lock.acquire(blocking=wait):
            self.release()

    def release(self) -> None:
        """Run passes while holding the delivery lock, release it, and make sure nothing is stranded.

        Whoever took ``lock`` calls this instead of ``lock.release()``.  A
        thread whose ``acquire(blocking=False)`` failed left its decisions to
        us; they may have been queued just after our last pass, so after
        releasing we look once more and, if anything is waiting, try again.
        """
        while True:
            try:
                self.send_queued()
            finally:
                self.lock.release()
            if not self._queued or not self.lock.acquire(blocking=False):
                return

    def send_queued(self) -> None:
        """Send every queued decision, oldest first, until none is left (delivery lock held)."""
        while True:
            with self._queue_lock:
                batch, self._queued = self._queued, []
            if not batch:
                return
            index = 0
            while index < len(batch):  # the batch grows when decisions arrive during a pass
                decision = batch[index]
                index += 1
                self._pass(decision, batch, index)

    def _pass(self, decision: Decision, batch: list[Decision], later: int) -> None:
        """Send one decision to its targets; ``batch[later:]`` are the decisions waiting behind it."""
        targets = decision.targets
        skip = decision.skip
        unserved = decision.unserved
        if unserved is not None:  # a pass before ours gave it to some of them (and never to skip)
            if not unserved:
                return
            targets = [sock for sock in targets if sock in unserved]
            skip = None
        self.passes += 1
        self.visits += len(targets) - (skip is not None)
        if not decision.broadcast or later < len(batch):
            self._pass_with_later(decision, iter(targets), batch, later)
            return
        data, size = decision.data, len(decision.data)
        slow = self.slow  # usually empty: then the test below costs nothing
        arrived = self._queued  # non-empty as soon as a decision arrives during this pass
        members = iter(targets)
        for sock in members:  # the hot loop: one turn per member, at 100,000 a second
            if arrived:
                self._pass_with_later(decision, chain((sock,), members), batch, later)
                return
            if sock is skip:
                continue
            if slow and sock in slow:  # TLS, a backlog, or closed: the general path
                self._hand_over(sock, data, decision.lines)
                continue
            try:
                sent = sock.send(data, SEND_FLAGS)
            except OSError:  # would block, reset, broken pipe: the general path decides
                self._hand_over(sock, data, decision.lines)
                continue
            if sent != size:
                self._hand_over(sock, data, decision.lines, sent)

    def _hand_over(self, sock: socket.socket, data: bytes, lines: int, sent: int | None = None) -> None:
        """A broadcast the hot loop could not give whole to this member: the outbox takes it, and counts it."""
        outbox = self.outbox_of.get(sock)
        if outbox is None:  # closed and forgotten since the decision was queued
            return
        outbox.not_counted(len(data), lines)
        if sent is None:
            outbox.push_locked(data)
        else:
            outbox.sent_part(data, sent)

    def _pass_with_later(self, decision: Decision, members: Iterable[socket.socket], batch: list[Decision],
                         later: int) -> None:
        """The general pass: each member gets this decision plus its waiting ones, in one ``send``.

        Used for decisions that are not broadcasts, and for the rest of a
        broadcast's pass once decisions wait behind it.  What each member
        gets of broadcasts is taken out of the broadcast count and counted
        here, by what the kernel takes.
        """
        skip = decision.skip if decision.unserved is None else None
        outbox_of = self.outbox_of
        for sock in members:
            if sock is skip:
                continue
            if self._queued:  # more arrived meanwhile: they wait behind us too
                with self._queue_lock:
                    batch.extend(self._queued)
                    self._queued = []
            outbox = outbox_of.get(sock)
            data, lines, chunks = decision.data, decision.lines, None
            broadcast_bytes, broadcast_lines = (len(data), lines) if decision.broadcast else (0, 0)
            for waiting in islice(batch, later, None):
                unserved = waiting.unserved_set()
                if sock in unserved:
                    unserved.remove(sock)
                    if chunks is None:
                        chunks = [data]
                    chunks.append(waiting.data)
                    lines += waiting.lines
                    if waiting.broadcast:
                        broadcast_bytes += len(waiting.data)
                        broadcast_lines += waiting.lines
            if outbox is None:  # closed and forgotten since the decisions were queued
                continue
            if chunks is not None:
                data = b"".join(chunks)
            outbox.not_counted(broadcast_bytes, broadcast_lines)
            if outbox.direct:  # as in _pass's loop
                try:
                    sent = sock.send(data, SEND_FLAGS)
                except OSError:
                    outbox.push_locked(data)
                    continue
                if sent == len(data):
                    outbox.counted_bytes += sent
                    outbox.counted_lines += lines
                else:
                    outbox.sent_part(data, sent)
            else:
                outbox.push_locked(data)


def _without(members: tuple, member) -> tuple:
    """``members`` without ``member``: two slices in C, not a Python loop over 1,000 members."""
    try:
        index = members.index(member)  # sockets compare by identity
    except ValueError:
        return members
    return members[:index] + members[index + 1:]


class Outbox:
    """The bytes on their way to one member: with the kernel, or in a bounded backlog.

    ``push_locked`` hands bytes to the socket and expects the delivery lock
    held; ``push`` is for the member's own thread (an error reply) and takes
    it.  ``encode`` turns plaintext into wire bytes (None for plain TCP, TLS
    encryption otherwise, see :meth:`use_encoding`); it runs under the lock
    so records leave in the order they were made.  ``on_overflow`` is called
    once, when the backlog would exceed ``limit``; it must not block.

    ``direct`` is True while a pass may ``send`` to this member in its hot
    loop: plain TCP, nothing in the backlog, open.  While it is False the
    socket is in the fanout's ``slow`` set.

    ``bytes_out`` counts the bytes the kernel accepted for this member (TLS
    records included); ``lines_out`` the lines among them (for TLS, the
    lines encrypted into records, since a record cannot be split back into
    lines).  What was queued but never reached the kernel (left in the
    backlog of a dropped member, queued after it closed) is not counted.
    Both are exact once the passes queued before the question have run (the
    server asks after the connection closed).  How, without a counter per
    member per line: a broadcast the hot loop sends whole is counted for
    every member at once, from the fanout's running totals at the member's
    join and at its leave; everything else (its own lines, which it
    does not receive; a broadcast the hot loop handed over; lines to this
    member only) is taken out of that count and counted here one by one.
    Measured on the bench's goal point (docs/PERFORMANCE.md): two counters
    per member per line cost about as much as the send's own Python work.
    """

    __slots__ = ("sock", "writer", "limit", "fanout", "on_overflow", "encode", "direct", "joined", "joined_at",
                 "backlog", "closed", "broken", "peak_backlog", "counted_bytes", "counted_lines",
                 "uncounted_bytes", "uncounted_lines", "__weakref__")

    def __init__(self, sock: socket.socket, writer: "BacklogWriter", limit: int, fanout: Fanout,
                 on_overflow: Callable[[], None], encode: Callable[[bytes], bytes] | None = None):
        self.sock = sock
        self.writer = writer
        self.limit = limit
        self.fanout = fanout
        self.on_overflow = on_overflow
        self.encode = encode
        self.direct = encode is None
        self.joined = False  # in fanout.everyone: broadcasts reach it
        self.joined_at: tuple[int, int] | None = None  # the fanout's broadcast totals at join (None: not joined)
        self.backlog = bytearray()  # the kernel did not take these yet
        self.closed = False
        self.broken = False  # the socket failed (reset, broken pipe)
        self.peak_backlog = 0
        self.counted_bytes = 0  # counted one by one (see the class docstring)
        self.counted_lines = 0
        self.uncounted_bytes = 0  # broadcasts between join and leave that the running totals must not count
        self.uncounted_lines = 0
        fanout.add(self)

    @property
    def bytes_out(self) -> int:
        """Bytes the kernel accepted for this member (class docstring)."""
        return self._from_broadcasts(0) - self.uncounted_bytes + self.counted_bytes

    @property
    def lines_out(self) -> int:
        """Lines among ``bytes_out`` (class docstring)."""
        return self._from_broadcasts(1) - self.uncounted_lines + self.counted_lines

    def _from_broadcasts(self, which: int) -> int:
        """The broadcasts since this member joined (0 when not in the room: they were added at leave)."""
        if self.joined_at is None:
            return 0
        return (self.fanout.broadcast_bytes, self.fanout.broadcast_lines)[which] - self.joined_at[which]

    def not_counted(self, size: int, lines: int) -> None:
        """Take a broadcast (or part of one) out of the running totals' count for this member."""
        self.uncounted_bytes += size
        self.uncounted_lines += lines

    def _set_direct(self, direct: bool) -> None:
        self.direct = direct
        fanout = self.fanout
        if direct:
            fanout.slow.discard(self.sock)
        elif fanout.outbox_of.get(self.sock) is self:  # not once forgotten: the set would keep the socket
            fanout.slow.add(self.sock)

    def use_encoding(self, encode: Callable[[bytes], bytes]) -> None:
        """Encode everything from now on (TLS); before anything is queued to this outbox."""
        self.encode = encode
        self._set_direct(False)

    def push(self, data: bytes, wire: bool = False) -> None:
        """Send ``data`` to this member now, after everything queued before; never blocks.

        ``wire=True`` means the bytes are already in wire form (e.g. a TLS
        close_notify record) and must not be encoded again.
        """
        fanout = self.fanout
        fanout.lock.acquire()
        try:
            fanout.send_queued()  # what was decided before comes first
            self.push_locked(data, wire)
        finally:
            fanout.release()

    def push_locked(self, data: bytes, wire: bool = False) -> None:
        """Hand ``data`` to the socket, or to the backlog behind what is already waiting (lock held)."""
        if self.closed or self.broken:
            return
        if self.encode is not None and not wire:
            self.counted_lines += data.count(b"\n")  # TLS: counted once encrypted (see the class docstring)
            data = self.encode(data)
            if not data:
                return
        if self.backlog:
            if len(self.backlog) + len(data) > self.limit:
                self._drop()
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
            self._set_direct(False)
            return
        self.sent_part(data, sent)

    def sent_part(self, data: bytes, sent: int) -> None:
        """The kernel took ``sent`` bytes of ``data``: count them, keep the rest for the writer thread (lock held)."""
        self._count(data, sent)
        if sent < len(data):
            self.backlog += memoryview(data)[sent:]
            self._set_direct(False)
            self.peak_backlog = max(self.peak_backlog, len(self.backlog))
            self.writer.want_write(self)

    def _count(self, data: bytes | bytearray, sent: int) -> None:
        self.counted_bytes += sent
        if self.encode is None:  # plaintext: the lines are those of the bytes the kernel took
            self.counted_lines += data.count(b"\n", 0, sent)

    def _drop(self) -> None:
        """The backlog would pass its bound: accept nothing more, say so once (lock held)."""
        self.backlog.clear()
        self.closed = True
        self._set_direct(False)
        self.on_overflow()

    def flush_some(self) -> bool:
        """Send what the kernel will take now; True when nothing is left to send."""
        fanout = self.fanout
        fanout.lock.acquire()
        try:
            while self.backlog and not (self.closed or self.broken):
                try:
                    sent = self.sock.send(self.backlog, SEND_FLAGS)
                except BlockingIOError:
                    return False
                except OSError:
                    self.broken = True
                    self.backlog.clear()
                    break
                self._count(self.backlog, sent)
                del self.backlog[:sent]
            self._set_direct(not (self.backlog or self.closed or self.broken) and self.encode is None)
            return True
        finally:
            fanout.release()

    def close(self, flush_timeout: float = 0.0) -> None:
        """Accept no more data; first try to send what is queued and the backlog for up to ``flush_timeout`` s.

        Called by the member's own reader thread when the connection ends,
        so waiting here delays nobody else (the lock is only taken for each
        non-blocking attempt, never while waiting).
        """
        fanout = self.fanout
        fanout.lock.acquire()
        fanout.release()  # runs the passes: whatever was queued for us is sent or in the backlog
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
        fanout.lock.acquire()
        try:
            self.closed = True
            self._set_direct(False)
            self.backlog.clear()
            fanout.forget(self)
        finally:
            fanout.release()
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

"""lab.tcp.delivery over real socket pairs: order, passes that pick up new lines, no line stranded, bounded backlog.

The server's threads are replaced by the test's own calls (or a few
threads), so every interleaving that matters is produced on purpose.
"""

from __future__ import annotations

import socket
import threading

import pytest

from lab.tcp.delivery import BacklogWriter, Fanout, Outbox


class Member:
    """One outbox and the client end of its socket pair."""

    def __init__(self, fanout: Fanout, writer: BacklogWriter, limit: int = 64 * 1024, encode=None):
        self.server_end, self.client_end = socket.socketpair()
        self.client_end.settimeout(5)
        self.overflows = 0
        self.outbox = Outbox(self.server_end, writer, limit, fanout, self._overflow, encode)

    def _overflow(self) -> None:
        self.overflows += 1

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.client_end.recv(size - len(data))
            assert chunk, f"peer closed after {data!r}"
            data += chunk
        return data

    def read_available(self) -> bytes:
        self.client_end.setblocking(False)
        data = b""
        try:
            while chunk := self.client_end.recv(65536):
                data += chunk
        except BlockingIOError:
            pass
        finally:
            self.client_end.settimeout(5)
        return data

    def close(self) -> None:
        self.server_end.close()
        self.client_end.close()


@pytest.fixture
def room():
    fanout, writer = Fanout(), BacklogWriter()
    writer.start()
    members: list[Member] = []

    def add(n: int = 1, **kwargs) -> list[Member]:
        new = [Member(fanout, writer, **kwargs) for _ in range(n)]
        members.extend(new)
        return new

    yield fanout, add
    writer.stop()
    for member in members:
        member.close()


def test_a_queued_line_reaches_every_recipient_in_one_pass(room):
    fanout, add = room
    members = add(5)
    fanout.queue([m.outbox for m in members], b"hello\n")
    fanout.deliver()
    assert [m.read_exactly(6) for m in members] == [b"hello\n"] * 5
    assert (fanout.passes, fanout.visits) == (1, 5)


def test_queueing_sends_nothing_until_someone_delivers(room):
    fanout, add = room
    (member,) = add(1)
    fanout.queue([member.outbox], b"not yet\n")
    assert member.read_available() == b""
    fanout.deliver()
    assert member.read_exactly(8) == b"not yet\n"


def test_lines_queued_before_a_pass_leave_in_one_send_in_order(room):
    fanout, add = room
    a, b = add(2)
    fanout.queue([a.outbox, b.outbox], b"1\n")
    fanout.queue([a.outbox], b"2\n")
    fanout.queue([a.outbox, b.outbox], b"3\n")
    fanout.deliver()
    assert a.read_exactly(6) == b"1\n2\n3\n"
    assert b.read_exactly(4) == b"1\n3\n"
    assert (fanout.passes, fanout.visits) == (1, 2)  # one visit each: all pending bytes joined


def test_a_line_queued_during_a_pass_is_picked_up_by_that_pass_for_members_not_reached_yet(room):
    # The encode hook runs inside the pass, for each member in turn: when the
    # pass reaches the first member, a second line is queued to everybody.
    fanout, add = room
    members: list[Member] = []
    queued = []

    def queue_second_line_once(data: bytes) -> bytes:
        if not queued:
            queued.append(True)
            fanout.queue([m.outbox for m in members], b"second\n")
        return data

    members += add(1, encode=queue_second_line_once) + add(3)
    fanout.queue([m.outbox for m in members], b"first\n")
    fanout.deliver()
    for member in members:
        assert member.read_exactly(13) == b"first\nsecond\n"
    # Pass 1 gave members 2-4 both lines at once; only member 1, already
    # visited when the second line came, needed a second pass.
    assert (fanout.passes, fanout.visits) == (2, 5)


def test_a_thread_that_finds_the_lock_taken_leaves_its_line_to_the_holder(room):
    fanout, add = room
    (member,) = add(1)
    with fanout.holding():  # another thread is delivering
        fanout.queue([member.outbox], b"mine\n")
        fanout.deliver()  # does not wait for the lock
        assert member.read_available() == b""
    # leaving holding() ran the pass the other thread left us
    assert member.read_exactly(5) == b"mine\n"


def test_push_from_the_members_own_thread_comes_after_what_was_pending(room):
    fanout, add = room
    (member,) = add(1)
    fanout.queue([member.outbox], b"broadcast\n")
    member.outbox.push(b"!!! error\n")
    assert member.read_exactly(20) == b"broadcast\n!!! error\n"


def test_close_sends_what_is_pending_then_accepts_nothing(room):
    fanout, add = room
    (member,) = add(1)
    fanout.queue([member.outbox], b"last words\n")
    member.outbox.close()
    assert member.read_exactly(11) == b"last words\n"
    fanout.queue([member.outbox], b"too late\n")
    fanout.deliver()
    assert member.read_available() == b""


def test_a_member_that_stops_reading_is_dropped_once_and_the_others_get_everything(room):
    fanout, add = room
    slow = add(1, limit=8 * 1024)[0]
    slow.server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow.client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    healthy = add(3)
    line = b"x" * 99 + b"\n"
    for _ in range(2000):  # 200 KB: far beyond the slow member's buffers and its 8 KiB backlog
        fanout.queue([slow.outbox] + [m.outbox for m in healthy], line)
        fanout.deliver()
        for member in healthy:  # the healthy members keep reading
            member.read_available()
    assert slow.overflows == 1
    assert slow.outbox.closed
    assert slow.outbox.peak_backlog <= 8 * 1024


def test_every_member_sees_every_line_once_in_the_same_order_under_concurrent_senders(room):
    # Like the server: senders decide under one lock (the room's) and queue in
    # that order, then deliver without waiting for each other.
    fanout, add = room
    members = add(8)
    room_lock = threading.Lock()
    senders, lines_each = 6, 300

    def sender(number: int) -> None:
        for seq in range(lines_each):
            with room_lock:
                fanout.queue([m.outbox for m in members], f"{number}:{seq}\n".encode())
            fanout.deliver()

    received = {id(m): b"" for m in members}
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):  # read as we go: socket buffers are finite
        for member in members:
            received[id(member)] += member.read_available()
    for thread in threads:
        thread.join()
    fanout.deliver(wait=True)
    # What the kernel did not take yet is in a backlog that the writer thread
    # is still flushing: wait for every byte (a condition, not a moment).
    expected = sum(len(f"{n}:{s}\n") for n in range(senders) for s in range(lines_each))
    for member in members:
        received[id(member)] += member.read_exactly(expected - len(received[id(member)]))
    orders = {received[id(m)] for m in members}
    assert len(orders) == 1, "two members saw different orders"
    lines = orders.pop().decode().splitlines()
    assert len(lines) == senders * lines_each == len(set(lines))
    for number in range(senders):  # and each sender's lines in its own order
        mine = [int(line.split(":")[1]) for line in lines if line.startswith(f"{number}:")]
        assert mine == list(range(lines_each))

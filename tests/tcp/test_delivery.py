"""lab.tcp.delivery over real socket pairs: order, passes that pick up new lines, no line stranded, bounded backlog.

The server's threads are replaced by the test's own calls (or a few
threads), so every interleaving that matters is produced on purpose.
"""

from __future__ import annotations

import socket
import threading

import pytest

from lab.tcp.delivery import BacklogWriter, Fanout, Outbox
from tests.helpers.waiting import wait_for


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
    fanout.lock.acquire()  # another thread is delivering
    try:
        fanout.queue([member.outbox], b"mine\n")
        fanout.deliver()  # does not wait for the lock
        assert member.read_available() == b""
    finally:
        fanout.release()  # releasing runs the pass the other thread left us
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


# -- broadcasts (the server's common case) and the per-member counters ------------------------


def joined(fanout: Fanout, members: list[Member]) -> list[Member]:
    for member in members:
        fanout.join(member.outbox)
    return members


def test_a_broadcast_reaches_every_joined_member_but_the_one_it_skips_and_nobody_who_left(room):
    fanout, add = room
    a, b, c, d = joined(fanout, add(4))
    fanout.leave(d.outbox)
    fanout.broadcast(b"<a> hi\n", skip=a.outbox)
    fanout.broadcast(b"*** news\n")
    fanout.deliver()
    assert a.read_exactly(9) == b"*** news\n"
    assert b.read_exactly(16) == c.read_exactly(16) == b"<a> hi\n*** news\n"
    assert d.read_available() == b""


def test_a_broadcast_takes_the_members_as_they_were_when_it_was_decided(room):
    fanout, add = room
    a, b = joined(fanout, add(2))
    fanout.broadcast(b"before\n")
    (late,) = joined(fanout, add(1))  # joins after the decision, before the pass
    fanout.leave(b.outbox)  # leaves after the decision: it still gets what was decided before
    fanout.broadcast(b"after\n")
    fanout.deliver()
    assert a.read_exactly(13) == b"before\nafter\n"
    assert b.read_exactly(7) == b"before\n" and b.read_available() == b""
    assert late.read_exactly(6) == b"after\n" and late.read_available() == b""


def test_a_broadcast_decided_during_a_pass_rides_on_it_for_the_members_not_reached_yet(room):
    fanout, add = room
    members: list[Member] = []
    queued = []

    def broadcast_second_line_once(data: bytes) -> bytes:  # runs when the pass reaches member 2
        if not queued:
            queued.append(True)
            fanout.broadcast(b"second\n", skip=members[0].outbox)
        return data

    members += add(1) + add(1, encode=broadcast_second_line_once) + add(3)
    joined(fanout, members)
    fanout.broadcast(b"first\n")
    fanout.deliver()
    assert members[0].read_exactly(6) == b"first\n" and members[0].read_available() == b""
    for member in members[1:]:
        assert member.read_exactly(13) == b"first\nsecond\n"
    # Pass 1 sent to all 5 (members 3-5 got both lines in one send); pass 2
    # only to member 2, which pass 1 had reached before the second line existed.
    assert (fanout.passes, fanout.visits) == (2, 6)


def test_the_counters_are_the_bytes_and_lines_the_member_received(room):
    fanout, add = room
    a, b, c = joined(fanout, add(3))
    fanout.broadcast(b"<a> one\n", skip=a.outbox)  # a's own line: not sent to a, not counted for a
    fanout.broadcast(b"*** two\n*** three\n")
    fanout.queue([b.outbox], b"private\n")
    fanout.deliver()
    c.outbox.push(b"!!! error\n")
    for member in (a, b, c):
        data = member.read_available()
        assert (member.outbox.bytes_out, member.outbox.lines_out) == (len(data), data.count(b"\n")), data


def test_the_counters_hold_when_the_kernel_takes_a_line_in_pieces(room):
    fanout, add = room
    (slow,) = joined(fanout, add(1))
    slow.server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow.client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    line = b"y" * 299 + b"\n"
    for _ in range(100):  # 30 KB: beyond the buffers, so the kernel takes partial lines and the writer finishes them
        fanout.broadcast(line)
        fanout.deliver()
    assert slow.outbox.backlog, "the test needs a backlog: the kernel took everything at once"
    data = b""
    while len(data) < 100 * len(line):  # read as the backlog writer sends; bounded by read_exactly's timeout
        data += slow.read_exactly(min(4096, 100 * len(line) - len(data)))
    wait_for(lambda: not slow.outbox.backlog and slow.outbox.bytes_out == len(data), "the backlog to be sent")
    assert data == line * 100
    assert slow.outbox.lines_out == 100


def test_a_dropped_member_is_counted_for_what_reached_its_kernel_not_for_its_lost_backlog(room):
    fanout, add = room
    slow = add(1, limit=8 * 1024)[0]
    fanout.join(slow.outbox)
    slow.server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow.client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    line = b"z" * 99 + b"\n"
    for _ in range(1000):  # never read: the backlog passes 8 KiB and the member is dropped
        fanout.broadcast(line)
        fanout.deliver()
    assert slow.overflows == 1 and slow.outbox.closed
    data = slow.read_available()  # all the kernel took; the backlog was thrown away
    assert len(data) < 1000 * len(line)
    assert (slow.outbox.bytes_out, slow.outbox.lines_out) == (len(data), data.count(b"\n"))


def test_concurrent_broadcasts_reach_every_other_member_exactly_once_in_one_order(room):
    # The server's path: each sender's line is a broadcast that skips the
    # sender, decided under the room's lock, then delivered without waiting.
    fanout, add = room
    members = joined(fanout, add(6))
    room_lock = threading.Lock()
    lines_each = 300

    def sender(number: int) -> None:
        for seq in range(lines_each):
            with room_lock:
                fanout.broadcast(f"{number}:{seq}\n".encode(), skip=members[number].outbox)
            fanout.deliver()

    received = {id(m): b"" for m in members}
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(3)]  # members 0-2 send
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for member in members:
            received[id(member)] += member.read_available()
    for thread in threads:
        thread.join()
    fanout.deliver(wait=True)
    for number, member in enumerate(members):
        expected = sum(len(f"{n}:{s}\n") for n in range(3) if n != number for s in range(lines_each))
        received[id(member)] += member.read_exactly(expected - len(received[id(member)]))
        assert member.read_available() == b""
        lines = received[id(member)].decode().splitlines()
        assert not [line for line in lines if line.startswith(f"{number}:")], "a sender got its own line"
        assert len(lines) == len(set(lines)), "a line arrived twice"
        for n in range(3):  # every other sender's lines, all of them, in its order
            if n != number:
                assert [int(line.split(":")[1]) for line in lines if line.startswith(f"{n}:")] == list(range(lines_each))
        # The writer thread counts a backlog's bytes just after its send() returns, and the
        # reader may have them first: wait for the count (it never comes if it is wrong).
        counted = (expected, len(lines))
        wait_for(lambda: (member.outbox.bytes_out, member.outbox.lines_out) == counted,
                 f"bytes_out, lines_out == {counted}, not {(member.outbox.bytes_out, member.outbox.lines_out)}",
                 timeout=5)
    orders = {tuple(line for line in received[id(m)].decode().splitlines() if line.startswith("2:") or
                    line.startswith("1:")) for m in members[3:]}
    assert len(orders) == 1, "two listeners saw different orders"


def _raw_member(port: int, name: str) -> tuple[socket.socket, bytearray]:
    """A client as bare as nc: connects, gives its name, keeps every byte the server sends."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    received = bytearray()
    for wanted, answer in ((b"--- hello:", name.encode() + b"\r\n"), (b"--- welcome:", None)):
        while wanted not in received:
            chunk = sock.recv(4096)
            assert chunk, f"the server closed before {wanted.decode()}: {bytes(received)!r}"
            received += chunk
        if answer:
            sock.sendall(answer)
    return sock, received


def test_the_servers_closed_event_counts_what_each_client_received(start_server):
    server = start_server()
    port = server.address[1]
    members = {}
    for name in ("ann", "bob", "cid"):
        members[name] = _raw_member(port, name)  # the others' join notices wait in their sockets
    for n in range(5):
        members["ann"][0].sendall(f"line {n} from ann\r\n".encode())
    members["bob"][0].sendall(b"/msg cid psst\r\n")
    for name in ("ann", "bob", "cid"):
        sock, received = members[name]
        sock.sendall(b"/quit\r\n")
        while chunk := sock.recv(65536):  # until the server's FIN
            received += chunk
        sock.close()
    closed = wait_for(lambda: len(server.log.of_kind("closed")) == 3 and server.log.of_kind("closed"),
                      "three closed events")
    for event in closed:
        received = members[event.name][1]
        assert (event.bytes_out, event.lines_out) == (len(received), received.count(b"\n")), (event.name, received)
    assert b"line 4 from ann" in members["bob"][1] and b"line 4 from ann" not in members["ann"][1]
    assert b"psst" in members["cid"][1] and b"psst" not in members["ann"][1]


def test_a_member_is_counted_for_the_broadcasts_of_its_time_in_the_room_only(room):
    # Broadcasts are counted from the fanout's running totals at join and at
    # leave, not per member per line: the span must be exactly right.
    fanout, add = room
    a, b, c = add(3)
    fanout.join(a.outbox)
    fanout.broadcast(b"before b\n")
    fanout.join(b.outbox)
    fanout.join(c.outbox)
    fanout.broadcast(b"<c> while all three\n", skip=c.outbox)
    fanout.leave(a.outbox)
    fanout.broadcast(b"after a left\n")
    fanout.deliver()
    expected = {a: b"before b\n<c> while all three\n", b: b"<c> while all three\nafter a left\n",
                c: b"after a left\n"}
    for member, data in expected.items():
        assert member.read_exactly(len(data)) == data and member.read_available() == b""
        assert (member.outbox.bytes_out, member.outbox.lines_out) == (len(data), data.count(b"\n"))


def test_a_closed_outbox_leaves_nothing_in_the_fanout_and_a_late_broadcast_skips_it(room):
    fanout, add = room
    slow, other = joined(fanout, add(2, limit=1 << 20))
    slow.server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow.client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(200):  # never read: a backlog builds, so the socket is in the slow set
        fanout.broadcast(b"x" * 199 + b"\n", skip=other.outbox)
        fanout.deliver()
    assert slow.server_end in fanout.slow
    fanout.broadcast(b"queued before the leave\n")  # still reaches slow's outbox, which closes before it is sent
    fanout.leave(slow.outbox)
    slow.outbox.close()
    fanout.deliver()
    slow.outbox.flush_some()  # the writer thread may still try it once, before it sees the close
    assert slow.server_end not in fanout.slow and slow.server_end not in fanout.outbox_of
    assert other.read_exactly(24) == b"queued before the leave\n"
    assert (other.outbox.bytes_out, other.outbox.lines_out) == (24, 1)


def test_the_hot_loop_sends_each_member_the_same_bytes_object(room):
    # The common turn is the tutorial's: one send() of the line to the next socket.
    fanout, add = room
    members = joined(fanout, add(4))
    sent = []

    class Recorder(socket.socket):
        __slots__ = ()

        def send(self, data, flags=0):
            sent.append(data)
            return super().send(data, flags)

    for member in members:  # the same socket, seen through a recording class
        member.server_end.__class__ = Recorder
    line = b"one line\n"
    fanout.broadcast(line, skip=members[0].outbox)
    fanout.deliver()
    assert len(sent) == 3 and all(data is line for data in sent)
    assert [m.read_available() for m in members] == [b"", line, line, line]

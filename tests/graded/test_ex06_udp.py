"""Exercise 6: UDP chat, datagrams and loss (see exercises/ex06_udp.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from tests.graded.teach import Story, close_quietly, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    return sock


def test_encode_and_decode_datagrams(impl):
    ex = load(impl, "ex06_udp")
    story = Story("ex06_udp.encode_datagram / decode_datagram")
    data = story.call('encode_datagram(41, "héllo everyone")', ex.encode_datagram, 41, "héllo everyone")
    story.check(data == "41 héllo everyone".encode(), "b'41 h\\xc3\\xa9llo everyone'", data)
    back = story.call(f"decode_datagram({data!r})", ex.decode_datagram, data)
    story.check(tuple(back) == (41, "héllo everyone"), "(41, 'héllo everyone')", back)
    back = story.call("decode_datagram(b'0 ')", ex.decode_datagram, b"0 ")
    story.check(tuple(back) == (0, ""), "(0, '')", back)
    for bad in (b"hello", b"-1 x", b"x1 y", b""):
        story.step(f"called decode_datagram({bad!r})")
        try:
            got = ex.decode_datagram(bad)
        except ValueError:
            continue
        except Exception as exc:
            story.fail("ValueError for a datagram that is not b'SEQ TEXT'", f"{type(exc).__name__}: {exc}")
        story.fail("ValueError for a datagram that is not b'SEQ TEXT'", f"it returned {got!r}")


def test_loss_counter(impl):
    ex = load(impl, "ex06_udp")
    story = Story("ex06_udp.LossCounter")
    counter = ex.LossCounter()
    arrivals = [0, 1, 2, 4, 5, 5, 3, 8]
    for seq in arrivals:
        story.call(f"add({seq})", counter.add, seq)
    facts = {
        "received": (counter.received, 7, "distinct numbers 0, 1, 2, 3, 4, 5, 8"),
        "lost": (story.call("lost", lambda: counter.lost), 2, "6 and 7 never arrived (0..8 is 9 numbers, 7 seen)"),
        "duplicates": (counter.duplicates, 1, "5 arrived twice"),
        "reordered": (counter.reordered, 1, "3 arrived after 5"),
        "highest": (counter.highest, 8, "the highest number seen"),
    }
    for name, (got, wanted, why) in facts.items():
        story.check(got == wanted, f"{name} == {wanted} ({why})", f"{name} == {got!r}")


def test_loss_at_the_end_needs_the_senders_count(impl):
    ex = load(impl, "ex06_udp")
    story = Story("ex06_udp.LossCounter: loss at the end of a run")
    counter = ex.LossCounter()
    for seq in (0, 1, 2, 4, 5):
        story.call(f"add({seq})", counter.add, seq)
    before = story.call("lost", lambda: counter.lost)
    story.check(before == 1, "lost == 1 before the sender said anything: only 3 is a visible gap in 0..5", before)
    story.call("sender_sent(9): the sender says it sent 0..8", counter.sender_sent, 9)
    after = story.call("lost", lambda: counter.lost)
    story.check(after == 4, "lost == 4: 3, and 6, 7, 8 after the highest number seen (the tail)", f"lost == {after}",
                "once the sender's count is known, count every number below it that never arrived")


class LossyForwarder:
    """The test's own 'network': forwards datagrams, dropping and duplicating some on purpose."""

    def __init__(self, to: tuple[str, int], drop: set[int], duplicate: set[int]) -> None:
        self.sock = _udp()
        self.to, self.drop, self.duplicate = to, drop, duplicate
        self.count = 0  # datagrams received from the sender
        self.passed = 0  # datagrams sent on to the receiver (a duplicate counts twice)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                data, _ = self.sock.recvfrom(2048)
            except OSError:
                return
            seq = self.count  # the n-th datagram forwarded, whatever the student numbered it
            if seq not in self.drop:
                self.sock.sendto(data, self.to)
                self.passed += 1
                if seq in self.duplicate:
                    self.sock.sendto(data, self.to)
                    self.passed += 1
            self.count += 1


def test_counting_loss_over_udp(impl):
    ex = load(impl, "ex06_udp")
    story = Story("ex06_udp: send_numbered + LossCounter through a lossy path")
    receiver = _udp()
    drop = {n for n in range(100) if n % 10 == 3} | {97, 98, 99}
    forwarder = LossyForwarder(receiver.getsockname(), drop, {50})
    sender = _udp()
    try:
        story.step(f"the test put a forwarder on {forwarder.sock.getsockname()} that drops datagrams "
                   f"{sorted(drop)} (the last three included) and sends number 50 twice")
        texts = [f"message {n}" for n in range(100)]
        nxt = story.call("send_numbered(sock, forwarder, ['message 0', ..., 'message 99'])",
                         ex.send_numbered, sender, forwarder.sock.getsockname(), texts)
        story.check(nxt == 100, "it to return 100, the next number", nxt)
        counter = ex.LossCounter()
        got = []
        deadline = time.monotonic() + 5
        # until the forwarder has handled all 100 and everything it passed on has arrived
        while (forwarder.count < 100 or len(got) < forwarder.passed) and time.monotonic() < deadline:
            try:
                data, _ = receiver.recvfrom(2048)
            except socket.timeout:
                continue
            seq, text = ex.decode_datagram(data)
            got.append(seq)
            counter.add(seq)
        story.step(f"the receiver got {len(got)} datagrams (highest number {max(got, default=None)}) "
                   "and fed their numbers to a LossCounter")
        story.check(sorted(set(got)) == [n for n in range(100) if n not in drop],
                    "the numbers 0..99 except the dropped ones (datagrams numbered 0, 1, 2, ... in order)", sorted(set(got)))
        story.call(f"sender_sent({nxt}): what the sender says it sent", counter.sender_sent, nxt)
        story.check(counter.lost == 13 and counter.duplicates == 1,
                    "lost == 13 (10 gaps, and 97, 98, 99 after the highest number seen) and duplicates == 1",
                    f"lost == {counter.lost}, duplicates == {counter.duplicates}",
                    "the last three leave no gap: only the sender's count shows them")
    finally:
        close_quietly(receiver, forwarder.sock, sender)


@contextlib.contextmanager
def _relay(ex, story: Story):
    relay = ex.UdpRelay("127.0.0.1", 0)
    story.call('UdpRelay("127.0.0.1", 0).start()', relay.start)
    try:
        yield relay
    finally:
        with contextlib.suppress(Exception):
            relay.stop()


def test_relay_passes_datagrams_to_the_others(impl):
    ex = load(impl, "ex06_udp")
    story = Story("ex06_udp.UdpRelay")
    with _relay(ex, story) as relay:
        story.check(relay.sock.type == socket.SOCK_DGRAM, "a UDP socket (SOCK_DGRAM)", relay.sock.type)
        address = relay.address
        story.step(f"the relay is bound to {address}")
        alice, bob, carol = _udp(), _udp(), _udp()
        try:
            for name, sock in (("alice", alice), ("bob", bob), ("carol", carol)):
                sock.sendto(f"0 {name} is here".encode(), address)
                time.sleep(0.05)
            story.step("alice, bob and carol each sent one datagram (that is how the relay learns their address)")
            bob.sendto(b"1 hi from bob", address)
            story.step("bob sent b'1 hi from bob'")
            for name, sock in (("alice", alice), ("carol", carol)):
                seen = []
                deadline = time.monotonic() + 2
                while b"1 hi from bob" not in seen and time.monotonic() < deadline:
                    try:
                        seen.append(sock.recvfrom(2048)[0])
                    except socket.timeout:
                        break
                story.check(b"1 hi from bob" in seen, f"{name} to receive b'1 hi from bob' unchanged", seen)
            bob.settimeout(0.3)
            mine = []
            with contextlib.suppress(socket.timeout):
                while True:
                    mine.append(bob.recvfrom(2048)[0])
            story.check(b"1 hi from bob" not in mine, "bob NOT to receive his own datagram back", mine)
            story.check(
                sorted(tuple(p) for p in relay.peers) == sorted(s.getsockname() for s in (alice, bob, carol)),
                "relay.peers to hold the 3 addresses it heard from, once each",
                relay.peers,
            )
        finally:
            close_quietly(alice, bob, carol)

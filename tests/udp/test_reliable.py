"""lab/udp/reliable.py: the datagram format, 32-bit sequence numbers, Go-Back-N and its timer, the receiver.

Whole transfers are simulated without sockets or a real clock: a
discrete-event loop carries datagrams between a Sender and a Receiver over a
seeded channel that drops, duplicates and reorders, so thousands of lossy
transfers take a second and every one is reproducible.  Real sockets are in
test_reliable_sockets.py and in the graded tests of exercise 12.  The RFC 6298
estimator itself (lab/net/rto.py) is tested in tests/net/test_rto.py.
"""

from __future__ import annotations

import ast
import heapq
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.udp import reliable as r

ROOT = Path(__file__).resolve().parents[2]

# -- the datagram format ------------------------------------------------------------


def test_datagrams_round_trip():
    for kind in (r.SYN, r.FIN, r.ACK, r.BYE):
        assert r.decode(r.encode(kind, 7)) == r.Datagram(kind, 7, b"")
    data = r.encode(r.DATA, 2**32 - 1, b"x" * r.PAYLOAD_SIZE)
    assert data[:5] == b"D\xff\xff\xff\xff" and len(data) == 5 + r.PAYLOAD_SIZE
    assert r.decode(data) == r.Datagram(r.DATA, 2**32 - 1, b"x" * r.PAYLOAD_SIZE)
    assert r.encode(r.ACK, 2**32 + 5) == r.encode(r.ACK, 5)  # numbers are taken modulo 2**32


@pytest.mark.parametrize("junk", [b"", b"A\x00\x00\x00", b"X\x00\x00\x00\x01", b"A\x00\x00\x00\x01extra",
                                  b"D\x00\x00\x00\x01", b"D\x00\x00\x00\x01" + b"x" * (r.PAYLOAD_SIZE + 1),
                                  b"hello world"])
def test_anything_else_is_not_a_datagram(junk):
    assert r.decode(junk) is None


def test_encode_refuses_what_decode_would_refuse():
    with pytest.raises(ValueError):
        r.encode(b"X", 1)
    with pytest.raises(ValueError):
        r.encode(r.ACK, 1, b"payload")
    with pytest.raises(ValueError):
        r.encode(r.DATA, 1, b"x" * (r.PAYLOAD_SIZE + 1))
    assert r.HEADER.size + r.PAYLOAD_SIZE <= r.MAX_DATAGRAM


# -- sequence numbers -------------------------------------------------------------------

def test_sequence_numbers_wrap():
    assert r.seq_add(2**32 - 1, 1) == 0
    assert r.seq_add(2**32 - 2, 5) == 3
    assert r.seq_diff(0, 2**32 - 1) == 1 and r.seq_diff(2**32 - 1, 0) == -1
    assert r.seq_diff(40_000, 0) == 40_000  # a 16-bit compare would say -25,536
    assert r.seq_diff(5, 5) == 0
    assert r.seq_diff(2**31 - 1, 0) == 2**31 - 1 and r.seq_diff(2**31, 0) == -(2**31)


@given(st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1))
def test_seq_diff_undoes_seq_add(base, n):
    assert r.seq_diff(r.seq_add(base, n), base) == n


# -- the sender --------------------------------------------------------------------------------

def _ack(n):
    return r.encode(r.ACK, n)


def _kinds(datagrams):
    return [(d.kind, d.number) for d in map(r.decode, datagrams)]


def test_nothing_but_the_syn_until_it_is_acknowledged():
    s = r.Sender(isn=10, window=4, timer=r.FixedTimer(0.5))
    for i in range(6):
        s.send(b"p%d" % i)
    s.close()
    assert _kinds(s.poll(0.0)) == [(r.SYN, 10)] and s.deadline == 0.5
    assert s.poll(0.4) == []
    assert _kinds(s.poll(0.5)) == [(r.SYN, 10)] and s.retransmissions == 1  # the timer expired
    s.receive(_ack(11), 0.6)
    assert s.established and _kinds(s.poll(0.6)) == [(r.DATA, n) for n in (11, 12, 13, 14)]


def test_cumulative_acks_slide_the_window():
    s = r.Sender(isn=2**32 - 2, window=3, timer=r.FixedTimer(1.0))
    for i in range(5):
        s.send(b"%d" % i)
    s.close()
    s.poll(0)
    s.receive(_ack(2**32 - 1), 0.1)
    assert _kinds(s.poll(0.1)) == [(r.DATA, 2**32 - 1), (r.DATA, 0), (r.DATA, 1)]
    s.receive(_ack(0), 0.2)  # one acknowledged
    assert _kinds(s.poll(0.2)) == [(r.DATA, 2)]
    s.receive(_ack(3), 0.3)  # the ACKs for 1 and 2 in one (the ACK for 1 was lost)
    assert _kinds(s.poll(0.3)) == [(r.DATA, 3), (r.FIN, 4)]
    s.receive(_ack(2), 0.4)  # an old ACK: nothing
    s.receive(_ack(2**31), 0.4)  # an ACK for what was never sent: nothing
    assert s.base == 3 and not s.done
    s.receive(_ack(5), 0.5)
    assert s.done and s.deadline is None
    assert (s.transmissions, s.retransmissions) == (7, 0)


def test_go_back_n_on_timeout():
    s = r.Sender(isn=0, window=4, timer=r.FixedTimer(0.2))
    for i in range(8):
        s.send(b"%d" % i)
    s.poll(0)
    s.receive(_ack(1), 0.01)
    s.poll(0.01)
    s.receive(_ack(3), 0.02)  # 1 and 2 arrived; 3 was lost
    s.poll(0.02)
    assert [i.seq for i in s.in_flight] == [3, 4, 5, 6]
    assert _kinds(s.poll(0.22)) == [(r.DATA, n) for n in (3, 4, 5, 6)]
    assert s.retransmissions == 4 and all(i.retransmitted for i in s.in_flight)


def test_karn_no_sample_from_a_retransmitted_datagram():
    est = r.RttEstimator(min_rto=0.0, granularity=0.0)
    s = r.Sender(isn=0, window=2, timer=est)
    s.send(b"a")
    s.send(b"b")
    s.poll(0.0)
    s.receive(_ack(1), 0.05)  # SYN: 50 ms
    assert est.srtt == pytest.approx(0.05) and est.rto == pytest.approx(0.15)
    s.poll(0.05)
    resent = s.poll(0.05 + 0.15)
    assert len(resent) == 2 and est.rto == pytest.approx(0.30)  # backed off
    s.receive(_ack(3), 0.21)  # which copy does this answer? no sample
    assert est.srtt == pytest.approx(0.05) and est.rto == pytest.approx(0.30)


# -- the receiver -------------------------------------------------------------------------------

def _data(n, payload=b"x"):
    return r.encode(r.DATA, n, payload)


def test_receiver_reassembles_drops_duplicates_and_acks_cumulatively():
    rx = r.Receiver(window=8)
    assert rx.receive(_data(5)) is None  # before the SYN: nothing known
    assert rx.receive(r.encode(r.SYN, 2**32 - 2)) == _ack(2**32 - 1)
    assert rx.receive(_data(0, b"c")) == _ack(2**32 - 1)  # early: kept, ACK unchanged
    assert rx.receive(_data(1, b"d")) == _ack(2**32 - 1)
    assert rx.read() == []
    assert rx.receive(_data(2**32 - 1, b"b")) == _ack(2)  # the gap filled: 3 delivered
    assert rx.read() == [b"b", b"c", b"d"]
    assert rx.receive(_data(0, b"c")) == _ack(2) and rx.read() == []  # duplicate: ACK again, not delivered
    assert rx.receive(r.encode(r.SYN, 2**32 - 2)) == _ack(2)
    assert rx.receive(_data(2 + 8)) == _ack(2)  # beyond the window: dropped
    assert rx.receive(r.encode(r.FIN, 3)) == _ack(2) and not rx.finished  # FIN early
    assert rx.receive(_data(2, b"e")) == _ack(4) and rx.finished and rx.read() == [b"e"]
    assert (rx.duplicates, rx.out_of_order, rx.delivered_bytes) == (2, 3, 4)


# -- on sockets -----------------------------------------------------------------------------------

def test_receiver_socket_answers_the_first_sender_only():
    import socket

    def udp():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        return sock

    rx_sock, alice, mallory = udp(), udp(), udp()
    try:
        rx = r.ReceiverSocket(rx_sock)
        target = rx_sock.getsockname()
        mallory.sendto(_data(1, b"early"), target)  # before any SYN: nobody to answer
        assert rx.on_readable() == [] and rx.peer is None
        alice.sendto(r.encode(r.SYN, 0), target)
        assert rx.on_readable() == [] and rx.peer == alice.getsockname()
        assert alice.recvfrom(64)[0] == _ack(1)
        mallory.sendto(_data(1, b"forged"), target)  # another address: ignored, not answered
        assert rx.on_readable() == [] and rx.receiver.datagrams == 1
        alice.sendto(_data(1, b"hello"), target)
        assert rx.on_readable() == [b"hello"] and alice.recvfrom(64)[0] == _ack(2)
        alice.sendto(r.encode(r.BYE, 2), target)
        assert rx.on_readable() == [] and rx.bye and rx.acks_sent == 2
    finally:
        for sock in (rx_sock, alice, mallory):
            sock.close()


# -- whole transfers, simulated ------------------------------------------------------------------

def simulate(payloads, seed, loss=0.0, duplicate=0.0, reorder=0.0, window=8, isn=None, one_way=0.005,
             max_rto=1.0, horizon=600.0):
    """Run one transfer on a fake clock over a seeded channel; return (delivered, sender, receiver, end time)."""
    rng = random.Random(seed)
    sender = r.Sender(isn=rng.randrange(2**32) if isn is None else isn, window=window,
                      timer=r.RttEstimator(max_rto=max_rto))
    receiver = r.Receiver()
    for p in payloads:
        sender.send(p)
    sender.close()
    events: list = []  # (time, tie, to_receiver, datagram)
    tie = 0

    def cross(now, datagram, to_receiver):
        nonlocal tie
        if rng.random() < loss:
            return
        copies = 2 if rng.random() < duplicate else 1
        delay = one_way + (0.05 if rng.random() < reorder else 0.0)
        for _ in range(copies):
            tie += 1
            heapq.heappush(events, (now + delay, tie, to_receiver, datagram))

    now, delivered = 0.0, []
    for d in sender.poll(now):
        cross(now, d, True)
    while not sender.done and now < horizon:
        next_event = events[0][0] if events else horizon
        now = min(next_event, sender.deadline if sender.deadline is not None else horizon)
        if events and events[0][0] <= now:
            _, _, to_receiver, datagram = heapq.heappop(events)
            if to_receiver:
                ack = receiver.receive(datagram)
                delivered += receiver.read()
                if ack is not None:
                    cross(now, ack, False)
            else:
                sender.receive(datagram, now)
        for d in sender.poll(now):
            cross(now, d, True)
    return delivered, sender, receiver, now


@pytest.mark.parametrize("loss", [0.0, 0.1, 0.3, 0.5])
def test_every_transfer_arrives_whole_and_in_order(loss):
    payloads = [b"%05d" % i for i in range(200)]
    for seed in range(40):
        delivered, sender, receiver, end = simulate(payloads, seed, loss=loss, duplicate=0.05, reorder=0.1)
        assert delivered == payloads, (loss, seed)
        assert sender.done and receiver.finished, (loss, seed)
        if loss == 0:
            assert sender.retransmissions == 0


def test_across_the_wrap():
    payloads = [bytes([i]) for i in range(100)]
    delivered, sender, _, _ = simulate(payloads, 3, loss=0.2, reorder=0.2, isn=2**32 - 50)
    assert delivered == payloads and sender.next_seq == 52  # SYN + 100 DATA + FIN from 2**32 - 50


def test_stop_and_wait_is_the_window_of_one():
    payloads = [b"%d" % i for i in range(30)]
    delivered, sender, _, end_one = simulate(payloads, 1, window=1)
    assert delivered == payloads
    _, _, _, end_eight = simulate(payloads, 1, window=8)
    assert end_one == pytest.approx(32 * 2 * 0.005)  # one round trip per datagram (SYN, 30 DATA, FIN)
    assert end_eight < end_one / 3


# -- one algorithm, two files -------------------------------------------------------------------

SHARED = {  # the file of lab/ that holds each definition exercise 12's solution writes again
    "lab/udp/reliable.py": ("SEQ_SPACE", "HEADER", "PAYLOAD_SIZE", "SYN", "KINDS", "Datagram", "encode", "decode",
                            "seq_add", "seq_diff", "FixedTimer", "DEFAULT_MAX_RTO", "InFlight", "Sender", "Receiver"),
    "lab/net/rto.py": ("ALPHA", "RttEstimator"),  # the kit's one RFC 6298 estimator
}


def _definitions(path: Path) -> dict[str, str]:
    """Top-level definitions of PATH by name, as AST dumps without docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        for sub in ast.walk(node):
            body = getattr(sub, "body", None)
            if (isinstance(sub, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                sub.body = body[1:] or [ast.Pass()]
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = ast.dump(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        found[name.id] = ast.dump(node)
    return found


def test_the_solution_of_exercise_12_is_this_code():
    solution = ROOT / "solutions" / "ex12_reliable.py"
    if not solution.exists():
        pytest.skip("no solutions/ex12_reliable.py here (a student release has no solutions/)")
    theirs = _definitions(solution)
    differ = []
    for path, names in SHARED.items():
        ours = _definitions(ROOT / path)
        differ += [f"{name} ({path})" for name in names if name not in ours or ours[name] != theirs.get(name)]
    assert not differ, ("lab/ and solutions/ex12_reliable.py must hold the same algorithm; "
                        f"these differ (docstrings aside): {', '.join(differ)}. Change both, or neither.")

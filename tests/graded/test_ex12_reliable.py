"""Exercise 12: reliable transfer over UDP (see exercises/ex12_reliable.py).

Steps 1 to 5 drive the sans-I/O pieces by hand (no socket, no clock: the
test says what time it is), so each rule is checked on its own.  Step 6
sends files through the kit's lossy relay (lab/experiments/compare/
lossy_relay.py), seeded, and through the command line as a user would.  No
timing is asserted anywhere: only what arrived, in which order, and how each
end finished.

Every check is a function of the module under test, so that
test_ex12_wrong_answers.py can run the same checks on classic wrong answers
(tests/graded/ex12_wrong_answers.py) and prove that each one fails.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.experiments.compare import Impairments, LossyUdpRelay
from lab.udp import reliable as kit
from tests.graded.teach import Background, Story, close_quietly, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(30)]

MODULE = "ex12_reliable"
ROOT = Path(__file__).resolve().parents[2]
NAMES = {kit.SYN: "S", kit.DATA: "D", kit.FIN: "F", kit.ACK: "A", kit.BYE: "B"}


def show(datagrams) -> str:
    """Datagrams as a reader writes them: S 100, D 101 b'hello', A 102."""
    if not datagrams:
        return "nothing"
    out = []
    for data in datagrams:
        got = kit.decode(data)
        if got is None:
            out.append(f"(not a datagram of the format: {data[:12]!r})")
        else:
            out.append(f"{NAMES[got.kind]} {got.number}" + (f" {got.payload[:12]!r}" if got.payload else ""))
    return ", ".join(out)


def ack(n: int) -> bytes:
    return kit.encode(kit.ACK, n)


def _sender(ex, story: Story, isn: int, window: int, payloads, timer=None, timer_text="FixedTimer(0.5)"):
    """A Sender with PAYLOADS queued and closed, as the step's story tells it."""
    timer = timer if timer is not None else ex.FixedTimer(0.5)
    sender = story.call(f"Sender(isn={isn}, window={window}, timer={timer_text})", ex.Sender, isn, window, timer)
    for p in payloads:
        sender.send(p)
    sender.close()
    story.step(f"queued {len(payloads)} payloads with send() and called close()")
    return sender


def _poll(story: Story, sender, now: float):
    return story.call(f"poll({now:g})", sender.poll, now)


def _receive(story: Story, sender, n: int, now: float) -> None:
    story.call(f"receive(A {n}, now={now:g})", sender.receive, ack(n), now)


# == step 1: sequence numbers on a 32-bit circle =================================================

def check_sequence_numbers(ex) -> None:
    story = Story("ex12_reliable step 1: seq_add / seq_diff")
    top = 2**32 - 1
    for args, want in (((5, 3), 8), ((top, 1), 0), ((top - 1, 5), 3), ((0, 2**32), 0)):
        got = story.call(f"seq_add{args}", ex.seq_add, *args)
        story.check(got == want, f"{want}: sequence numbers have 32 bits and wrap from {top} to 0", got)
    cases = [((8, 5), 3, "8 is 3 after 5"), ((5, 8), -3, "5 is 3 before 8"),
             ((0, top), 1, "0 comes right after 4294967295: the numbers wrapped"),
             ((top, 0), -1, "4294967295 is right before 0"),
             ((2, top - 1), 4, "2 is 4 after 4294967294, across the wrap"),
             ((70_000, 0), 70_000, "70000 is after 0: all 32 bits count, not 16"),
             ((0, 70_000), -70_000, "0 is before 70000"),
             ((100_000, 2**32 - 40_000), 140_000, "across the wrap, farther apart than 16 bits reach"),
             ((2**31 - 1, 0), 2**31 - 1, "the farthest ahead a number can be"), ((7, 7), 0, "a number is 0 after itself")]
    for args, want, why in cases:
        got = story.call(f"seq_diff{args}", ex.seq_diff, *args)
        story.check(got == want, f"{want} ({why})", got,
                    "take (a - b) modulo 2**32, and read values of 2**31 and more as negative" if got != want else None)


def test_step1_sequence_numbers_wrap_at_32_bits(impl):
    check_sequence_numbers(load(impl, MODULE))


# == step 2: stop-and-wait with a retransmission timer ===========================================

def check_stop_and_wait_sends_one_then_waits(ex) -> None:
    story = Story("ex12_reliable step 2: stop-and-wait, one datagram in flight")
    s = _sender(ex, story, 100, 1, [b"hello", b"world"])
    out = _poll(story, s, 0.0)
    story.check(show(out) == "S 100", "exactly the SYN, S 100 (the stream starts at the ISN, 100)", show(out))
    story.check(s.deadline == 0.5, "the timer started: deadline == 0.0 + timer.rto == 0.5", f"deadline == {s.deadline!r}",
                "start the timer when you send and it is not running (RFC 6298 rule 5.1)")
    out = _poll(story, s, 0.1)
    story.check(out == [], "nothing at 0.1: the SYN is not acknowledged and its timer has not expired", show(out))
    _receive(story, s, 101, 0.2)
    out = _poll(story, s, 0.2)
    story.check(show(out) == "D 101 b'hello'", "the first DATA, D 101 'hello', and only it (window 1)", show(out))
    story.check(s.deadline == 0.7, "the timer restarted for D 101: deadline == 0.2 + 0.5", f"deadline == {s.deadline!r}",
                "an ACK of new data restarts the timer for what is still in flight (rule 5.3)")
    _receive(story, s, 102, 0.3)
    out = _poll(story, s, 0.3)
    story.check(show(out) == "D 102 b'world'", "D 102 'world' once A 102 acknowledged D 101", show(out))
    _receive(story, s, 103, 0.4)
    out = _poll(story, s, 0.4)
    story.check(show(out) == "F 103", "the FIN, F 103, after the last DATA was acknowledged", show(out))
    _receive(story, s, 104, 0.5)
    story.check(s.done, "done once A 104 acknowledged the FIN", f"done == {s.done!r}")
    story.check(s.deadline is None, "the timer stopped: nothing is in flight (rule 5.2)", f"deadline == {s.deadline!r}")


def check_stop_and_wait_retransmits(ex) -> None:
    story = Story("ex12_reliable step 2: the retransmission timer")
    s = _sender(ex, story, 7, 1, [b"x"])
    _poll(story, s, 0.0)
    out = _poll(story, s, 0.5)
    story.check(show(out) == "S 7", "the SYN again at 0.5: its timer expired and no ACK came (it, or the ACK, was lost)",
                show(out), "on_timer() returns the datagrams to send again")
    story.check(s.deadline == 1.0, "the timer restarted: deadline == 0.5 + 0.5 (rule 5.6)", f"deadline == {s.deadline!r}",
                "restart the timer in on_timer(), or every poll() sends everything again")
    out = _poll(story, s, 0.5)
    story.check(out == [], "nothing more at 0.5: one copy per expiry, not one per poll()", show(out),
                "restart the timer in on_timer(), or every poll() sends again")
    _receive(story, s, 8, 0.6)
    _poll(story, s, 0.6)
    _receive(story, s, 7, 0.7)
    story.step("an old ACK, A 7 (a copy the network made), arrived at 0.7")
    out = _poll(story, s, 0.7)
    story.check(out == [], "nothing: an old ACK acknowledges nothing new", show(out))
    out = _poll(story, s, 1.1)
    story.check(show(out) == "D 8 b'x'", "D 8 again at 1.1 (0.6 + 0.5): the DATA is retransmitted like the SYN",
                show(out))
    story.check(s.retransmissions == 2, "retransmissions == 2", f"retransmissions == {s.retransmissions}")


def test_step2_stop_and_wait_sends_one_then_waits(impl):
    check_stop_and_wait_sends_one_then_waits(load(impl, MODULE))


def test_step2_stop_and_wait_retransmits_on_timeout(impl):
    check_stop_and_wait_retransmits(load(impl, MODULE))


# == step 3: the sliding window, cumulative ACKs, Go-Back-N ======================================

def check_window_fills_and_slides(ex) -> None:
    story = Story("ex12_reliable step 3: the sliding window")
    s = _sender(ex, story, 10, 4, [b"%d" % i for i in range(6)], ex.FixedTimer(1.0), "FixedTimer(1.0)")
    out = _poll(story, s, 0.0)
    story.check(show(out) == "S 10", "only the SYN until it is acknowledged (usable_window() is 1 until then)", show(out))
    _receive(story, s, 11, 0.1)
    out = _poll(story, s, 0.1)
    want = "D 11 b'0', D 12 b'1', D 13 b'2', D 14 b'3'"
    story.check(show(out) == want, f"4 datagrams at once, the whole window: {want}", show(out),
                "send while fewer than usable_window() datagrams are in flight")
    _receive(story, s, 13, 0.2)
    out = _poll(story, s, 0.2)
    story.check(show(out) == "D 15 b'4', D 16 b'5'", "A 13 acknowledged 2 datagrams: 2 more go, D 15 and D 16",
                show(out))


def check_cumulative_acks(ex) -> None:
    story = Story("ex12_reliable step 3: cumulative ACKs")
    top = 2**32 - 1
    s = _sender(ex, story, top - 2, 4, [b"%d" % i for i in range(6)], ex.FixedTimer(1.0), "FixedTimer(1.0)")
    _poll(story, s, 0.0)
    _receive(story, s, top - 1, 0.1)
    out = _poll(story, s, 0.1)
    story.check(show(out) == f"D {top - 1} b'0', D {top} b'1', D 0 b'2', D 1 b'3'",
                "4 DATA numbered 4294967294, 4294967295, 0, 1: numbers wrap (seq_add)", show(out))
    story.step("the ACKs for the first three were lost; only A 2 arrived")
    _receive(story, s, 2, 0.2)
    story.check(len(s.in_flight) == 0, "nothing left in flight: A 2 says every datagram before 2 arrived, "
                "including 4294967294 and 4294967295", f"{len(s.in_flight)} still in flight: "
                f"{[i.seq for i in s.in_flight]}", "acknowledge seq_diff(ack, oldest in flight) datagrams at once")
    out = _poll(story, s, 0.2)
    story.check(show(out) == "D 2 b'4', D 3 b'5', F 4", "the rest at once: D 2, D 3 and the FIN F 4", show(out))
    _receive(story, s, 2**31 + 5, 0.3)
    story.step("an ACK for what was never sent, A 2147483653, arrived")
    story.check(len(s.in_flight) == 3, "still 3 in flight: an ACK for numbers never sent acknowledges nothing",
                f"{len(s.in_flight)} in flight")
    _receive(story, s, 5, 0.4)
    story.check(s.done, "done after A 5 acknowledged the FIN", f"done == {s.done!r}")


def check_go_back_n(ex) -> None:
    story = Story("ex12_reliable step 3: Go-Back-N on a timeout")
    s = _sender(ex, story, 0, 4, [b"%d" % i for i in range(8)], ex.FixedTimer(0.2), "FixedTimer(0.2)")
    _poll(story, s, 0.0)
    _receive(story, s, 1, 0.01)
    _poll(story, s, 0.01)
    _receive(story, s, 3, 0.02)
    story.step("D 1 and D 2 were acknowledged (A 3); D 3 was lost")
    _poll(story, s, 0.02)
    out = _poll(story, s, 0.22)
    want = "D 3 b'2', D 4 b'3', D 5 b'4', D 6 b'5'"
    story.check(show(out) == want, f"the timer expired at 0.22: go back and send all 4 in flight again: {want}",
                show(out), "Go-Back-N: on_timer() returns every datagram in flight, oldest first")
    story.check(s.retransmissions == 4, "retransmissions == 4", f"retransmissions == {s.retransmissions}")


def test_step3_window_fills_and_slides(impl):
    check_window_fills_and_slides(load(impl, MODULE))


def test_step3_acks_are_cumulative(impl):
    check_cumulative_acks(load(impl, MODULE))


def test_step3_go_back_n_on_timeout(impl):
    check_go_back_n(load(impl, MODULE))


# == step 4: the receiver ==========================================================================

def _rx(story: Story, receiver, datagram: bytes, label: str):
    got = story.call(f"receive({label})", receiver.receive, datagram)
    return got


def check_receiver_in_order(ex) -> None:
    story = Story("ex12_reliable step 4: the receiver, in order")
    rx = story.call("Receiver()", ex.Receiver)
    got = _rx(story, rx, kit.encode(kit.DATA, 5, b"early"), "D 5 'early', before any SYN")
    story.check(got is None, "no answer: before the SYN the receiver does not know where the stream starts",
                show([got]) if got else repr(got))
    got = _rx(story, rx, kit.encode(kit.SYN, 40), "S 40")
    story.check(show([got]) == "A 41", "A 41: the SYN took number 40; 41 comes next", show([got]) if got else repr(got))
    for n, text in ((41, b"one "), (42, b"two ")):
        got = _rx(story, rx, kit.encode(kit.DATA, n, text), f"D {n} {text!r}")
        story.check(show([got]) == f"A {n + 1}", f"A {n + 1}", show([got]) if got else repr(got))
    data = story.call("read()", rx.read)
    story.check(data == [b"one ", b"two "], "[b'one ', b'two ']: delivered in order", data)
    got = _rx(story, rx, kit.encode(kit.DATA, 41, b"one "), "D 41 'one ' again (a retransmission: A 42 was lost)")
    story.check(show([got]) == "A 43", "A 43 again: a duplicate is acknowledged, so that the sender learns",
                show([got]) if got else repr(got))
    data = story.call("read()", rx.read)
    story.check(data == [], "[]: a duplicate is never delivered twice", data,
                "a datagram behind next_expected (seq_diff < 0) was delivered already")
    story.check(rx.duplicates == 1, "duplicates == 1", f"duplicates == {rx.duplicates}")
    got = _rx(story, rx, kit.encode(kit.FIN, 43), "F 43")
    story.check(show([got]) == "A 44" and rx.finished, "A 44 and finished: the FIN came after everything",
                f"{show([got]) if got else got!r}, finished == {rx.finished!r}")


def check_receiver_reassembles(ex) -> None:
    story = Story("ex12_reliable step 4: the receiver reassembles")
    rx = story.call("Receiver()", ex.Receiver)
    _rx(story, rx, kit.encode(kit.SYN, 0), "S 0")
    answers = []
    for n, text in ((3, b"c"), (2, b"b"), (3, b"c"), (5, b"e")):
        got = _rx(story, rx, kit.encode(kit.DATA, n, text), f"D {n} {text!r}")
        answers.append(show([got]) if got else repr(got))
    story.check(answers == ["A 1"] * 4, "A 1 every time: D 1 is missing, so every datagram before 1 is all we have "
                "(cumulative: not the number of the datagram that just arrived)", answers,
                "answer next_expected, whatever arrived")
    data = story.call("read()", rx.read)
    story.check(data == [], "[]: nothing can be delivered while D 1 is missing", data)
    got = _rx(story, rx, kit.encode(kit.DATA, 1, b"a"), "D 1 'a' (the gap fills)")
    story.check(show([got]) == "A 4", "A 4: D 1 arrived, D 2 and D 3 had been kept: 1, 2, 3 are complete",
                show([got]) if got else repr(got), "keep early datagrams (in early) instead of dropping them")
    data = story.call("read()", rx.read)
    story.check(data == [b"a", b"b", b"c"], "[b'a', b'b', b'c']: in order, each once", data)
    _rx(story, rx, kit.encode(kit.FIN, 6), "F 6 (early: D 4 is missing)")
    story.check(not rx.finished, "not finished: D 4 is still missing", f"finished == {rx.finished!r}")
    got = _rx(story, rx, kit.encode(kit.DATA, 4, b"d"), "D 4 'd'")
    data = story.call("read()", rx.read)
    story.check(show([got]) == "A 7" and data == [b"d", b"e"] and rx.finished,
                "A 7, [b'd', b'e'] and finished: D 4 completes everything up to the FIN",
                f"{show([got]) if got else got!r}, {data!r}, finished == {rx.finished!r}")
    story.check((rx.duplicates, rx.out_of_order) == (1, 4),
                "duplicates == 1 (D 3 twice) and out_of_order == 4 (D 3, D 2, D 5, F 6 came ahead of a gap)",
                f"duplicates == {rx.duplicates}, out_of_order == {rx.out_of_order}")


def check_receiver_wraps(ex) -> None:
    story = Story("ex12_reliable step 4: the receiver across the 32-bit wrap")
    top = 2**32 - 1
    rx = story.call("Receiver()", ex.Receiver)
    got = _rx(story, rx, kit.encode(kit.SYN, top - 2), f"S {top - 2}")
    story.check(show([got]) == f"A {top - 1}", f"A {top - 1}", show([got]) if got else repr(got))
    order = [(1, b"4"), (top, b"2"), (0, b"3"), (top - 1, b"1"), (top, b"2")]
    answers = []
    for n, text in order:
        got = _rx(story, rx, kit.encode(kit.DATA, n, text), f"D {n} {text!r}")
        answers.append(show([got]) if got else repr(got))
    data = story.call("read()", rx.read)
    story.check(data == [b"1", b"2", b"3", b"4"], "[b'1', b'2', b'3', b'4']: 4294967294, 4294967295, 0, 1 is the "
                "order, across the wrap", data, "compare numbers with seq_diff(), never with <")
    story.check(answers[-2:] == ["A 2", "A 2"], "A 2 after the gap filled, and A 2 for the duplicate",
                answers)
    got = _rx(story, rx, kit.encode(kit.DATA, 2 + rx.window, b"far"), f"D {2 + rx.window} (window {rx.window} ahead)")
    story.check(show([got]) == "A 2" and len(rx.early) == 0,
                f"A 2 and nothing kept: a datagram {rx.window} or more ahead is dropped (memory is bounded)",
                f"{show([got]) if got else got!r}, early holds {sorted(rx.early)}")
    got = _rx(story, rx, kit.encode(kit.DATA, 2 - 40_000, b"old"), f"D {2**32 + 2 - 40_000} (40000 behind)")
    data = story.call("read()", rx.read)
    story.check(show([got]) == "A 2" and data == [] and len(rx.early) == 0,
                "A 2, nothing delivered or kept: a datagram 40000 behind is an old duplicate (all 32 bits count)",
                f"{show([got]) if got else got!r}, read() == {data!r}, early holds {sorted(rx.early)}")


def test_step4_receiver_delivers_in_order_and_once(impl):
    check_receiver_in_order(load(impl, MODULE))


def test_step4_receiver_reassembles_out_of_order(impl):
    check_receiver_reassembles(load(impl, MODULE))


def test_step4_receiver_handles_the_32_bit_wrap(impl):
    check_receiver_wraps(load(impl, MODULE))


# == step 5: the RTT-based timeout (RFC 6298) ======================================================

def check_rfc6298(ex) -> None:
    story = Story("ex12_reliable step 5: RttEstimator (RFC 6298)")
    est = story.call("RttEstimator(min_rto=0.0, granularity=0.0)", ex.RttEstimator, 0.0, 60.0, 1.0, 0.0)
    story.check(est.rto == 1.0, "rto == 1.0 before any sample (rule 2.1)", f"rto == {est.rto!r}")
    # Worked by hand from RFC 6298 (2.2), (2.3): alpha = 1/8, beta = 1/4, K = 4.
    table = [(0.100, 0.100, 0.050, 0.300), (0.200, 0.1125, 0.0625, 0.3625), (0.050, 0.1046875, 0.0625, 0.3546875),
             (0.100, 0.1041015625, 0.048046875, 0.2962890625)]
    for rtt, srtt, rttvar, rto in table:
        story.call(f"sample({rtt})", est.sample, rtt)
        ok = all(abs(a - b) < 1e-9 for a, b in ((est.srtt, srtt), (est.rttvar, rttvar), (est.rto, rto))
                 if a is not None) and None not in (est.srtt, est.rttvar)
        story.check(ok, f"srtt {srtt}, rttvar {rttvar}, rto {rto}",
                    f"srtt {est.srtt!r}, rttvar {est.rttvar!r}, rto {est.rto!r}",
                    "first sample: SRTT = R, RTTVAR = R/2; then RTTVAR first, with the OLD SRTT: "
                    "RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, then SRTT = 7/8 SRTT + 1/8 R; RTO = SRTT + 4 RTTVAR")


def check_rto_bounds_and_backoff(ex) -> None:
    story = Story("ex12_reliable step 5: RTO bounds and back-off")
    est = story.call("RttEstimator(min_rto=0.2, max_rto=1.0)", ex.RttEstimator, 0.2, 1.0)
    story.call("sample(0.0001)", est.sample, 0.0001)
    story.check(abs(est.rto - 0.2) < 1e-9, "rto == 0.2: never below min_rto (RFC 6298 says 1 s, Linux 200 ms)",
                f"rto == {est.rto!r}", "clamp RTO between min_rto and max_rto")
    rtos = []
    for _ in range(4):
        story.call("backoff()", est.backoff)
        rtos.append(round(est.rto, 9))
    story.check(rtos == [0.4, 0.8, 1.0, 1.0], "[0.4, 0.8, 1.0, 1.0]: doubled each time, capped at max_rto (rule 5.5)",
                rtos)
    story.call("sample(0.0001)", est.sample, 0.0001)
    story.check(abs(est.rto - 0.2) < 1e-9, "rto == 0.2 again: a new sample computes RTO afresh", f"rto == {est.rto!r}")


def check_sender_uses_rtt(ex) -> None:
    story = Story("ex12_reliable step 5: the sender feeds the estimator (Karn's rule)")
    est = story.call("RttEstimator(min_rto=0.0, granularity=0.0)", ex.RttEstimator, 0.0, 60.0, 1.0, 0.0)
    s = _sender(ex, story, 0, 2, [b"a", b"b"], est, "that estimator")
    _poll(story, s, 0.0)
    _receive(story, s, 1, 0.05)
    story.check(est.srtt is not None and abs(est.srtt - 0.05) < 1e-9,
                "srtt == 0.05: A 1 answered the SYN sent at 0.0, 50 ms earlier (a sample)", f"srtt == {est.srtt!r}",
                "in on_ack(): timer.sample(now - sent_at) of the newest datagram acknowledged")
    _poll(story, s, 0.05)
    story.check(s.deadline is not None and abs(s.deadline - (0.05 + 0.15)) < 1e-9,
                "deadline == 0.05 + 0.15: the timer uses the new RTO (0.05 + 4 x 0.025)", f"deadline == {s.deadline!r}")
    resent = _poll(story, s, 0.2)
    story.check(show(resent) == "D 1 b'a', D 2 b'b'", "both DATA again at 0.2 (the timer expired)", show(resent))
    story.check(abs(est.rto - 0.3) < 1e-9, "rto == 0.3: the timer backed off (doubled) when it expired (rule 5.5)",
                f"rto == {est.rto!r}", "call timer.backoff() in on_timer()")
    _receive(story, s, 3, 0.21)
    story.check(abs(est.srtt - 0.05) < 1e-9 and abs(est.rto - 0.3) < 1e-9,
                "no sample from A 3: D 1 and D 2 were sent twice, and nobody knows which copy A 3 answers "
                "(Karn's rule); srtt stays 0.05, rto 0.3", f"srtt == {est.srtt!r}, rto == {est.rto!r}",
                "take no sample when the newest acknowledged datagram was retransmitted")


def test_step5_rtt_estimator_follows_rfc_6298(impl):
    check_rfc6298(load(impl, MODULE))


def test_step5_rto_is_bounded_and_backs_off(impl):
    check_rto_bounds_and_backoff(load(impl, MODULE))


def test_step5_sender_samples_rtt_with_karns_rule(impl):
    check_sender_uses_rtt(load(impl, MODULE))


# == step 6: files through the kit's lossy relay ===============================================

def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _describe(path: Impairments, seed: int) -> str:
    return (f"{path.loss:g} % of datagrams dropped, {path.duplicate:g} % duplicated, {path.reorder:g} % held back "
            f"{path.reorder_delay * 1000:g} ms (reordered), both ways, seed {seed}")


def _first_difference(sent: bytes, got: bytes) -> str:
    for i, (a, b) in enumerate(zip(sent, got)):
        if a != b:
            return f"the first difference is at byte {i} (in DATA number {i // kit.PAYLOAD_SIZE + 1} of the stream)"
    return "one is the beginning of the other"


def _await(jobs: dict[str, Background], timeout: float) -> None:
    """Wait until every job has finished, or one has failed, or TIMEOUT."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(job.done for job in jobs.values()) or any(job.done and job.error for job in jobs.values()):
            return
        time.sleep(0.02)


def check_run(ex, path: Impairments, seed: int, size: int, late: bool = False, window: int = 8,
              timer=None, timer_text: str = "RttEstimator(max_rto=1.0)", title: str = "a file through the lossy relay"):
    story = Story(f"ex12_reliable step 6: {title}")
    data = random.Random(seed).randbytes(size)
    probe = _udp()
    port = probe.getsockname()[1]
    receiver_sock = None if late else probe
    if late:
        probe.close()
    relay = LossyUdpRelay(("127.0.0.1", port), path, seed, enabled=True, record=True)
    sender_sock = _udp()
    jobs: dict[str, Background] = {}
    try:
        story.step(f"the test started the kit's lossy relay on 127.0.0.1:{relay.address[1]}, towards 127.0.0.1:{port}: "
                   + _describe(path, seed))
        if not late:
            jobs["receiver"] = Background(ex.receive_bytes, receiver_sock, wait=30, give_up=30, linger=10)
            story.step(f"called receive_bytes(<socket on 127.0.0.1:{port}>, wait=30, give_up=30, linger=10) in a thread")
        timer = timer if timer is not None else ex.RttEstimator(max_rto=1.0)
        jobs["sender"] = Background(ex.send_bytes, sender_sock, relay.address, data, window=window, timer=timer,
                                    give_up=30)
        story.step(f"called send_bytes(sock, relay, <{size} bytes>, window={window}, timer={timer_text}, give_up=30) "
                   "in a thread")
        if late:
            deadline = time.monotonic() + 15
            while sum(1 for flow, _ in relay.record if flow.endswith(":up")) < 2 and time.monotonic() < deadline:
                if jobs["sender"].done:
                    break
                time.sleep(0.01)
            seen = [d for flow, d in relay.record if flow.endswith(":up")]
            story.step(f"nothing listened on port {port} yet; the relay passed on {show(seen[:4])}")
            story.check(len(seen) >= 2, "the SYN sent again and again while nobody answers (its timer expires, "
                        "it is lost again, until a receiver is there)", f"{show(seen)}; the sender: "
                        f"{jobs['sender'].outcome()}")
            receiver_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            receiver_sock.bind(("127.0.0.1", port))
            jobs["receiver"] = Background(ex.receive_bytes, receiver_sock, wait=30, give_up=30, linger=10)
            story.step(f"then the receiver started: receive_bytes(<socket on 127.0.0.1:{port}>, ...) in a thread")
        _await(jobs, 90)
        stats = relay.stats()
        story.step(f"the relay saw {stats['datagrams']} datagrams: dropped {stats['dropped']}, duplicated "
                   f"{stats['duplicated']}, reordered {stats['reordered']}")
        for name in ("sender", "receiver"):
            job = jobs[name]
            story.check(job.done and job.error is None, f"the {name} to return (it finished)", job.outcome())
        got = jobs["receiver"].result.data
        story.check(got == data, f"the receiver to get the {size} bytes sent, exactly", f"{len(got)} bytes, which "
                    f"differ: {_first_difference(data, got)}" if got != data else "the same bytes",
                    "a duplicate delivered twice, or an early datagram delivered in its arrival order, shifts "
                    "everything after it")
        story.check(jobs["sender"].result.sender.done, "the sender's FIN acknowledged (done)", "not done")
        return jobs, relay
    finally:
        relay.close()
        close_quietly(sender_sock, receiver_sock, probe)


# Seeds whose first datagrams meet every impairment, so each run tests what it says (checked by
# tests/experiments/test_lossy_relay.py::test_the_graded_runs_of_exercise_12_meet_every_impairment).
RUNS = {
    "0": (Impairments(loss=0, duplicate=10, reorder=20), 1, 40_000),
    "10": (Impairments(loss=10, duplicate=5, reorder=10), 2, 40_000),
    "30": (Impairments(loss=30, duplicate=5, reorder=10), 8, 20_480 + 100),
    "late": (Impairments(loss=10, duplicate=5, reorder=10), 5, 10_000),
    "stop-and-wait": (Impairments(loss=10, duplicate=5, reorder=10), 12, 8 * 1024),
    "command line": (Impairments(loss=10, duplicate=5, reorder=10), 7, 30_000),
}


def run_clean(ex) -> None:
    path, seed, size = RUNS["0"]
    check_run(ex, path, seed, size, title="0 % loss, with duplicates and reordering")


def run_ten(ex) -> None:
    path, seed, size = RUNS["10"]
    check_run(ex, path, seed, size, title="10 % loss, with duplicates and reordering")


def run_thirty(ex) -> None:
    path, seed, size = RUNS["30"]
    check_run(ex, path, seed, size, title="30 % loss, with duplicates and reordering")


def run_late(ex) -> None:
    path, seed, size = RUNS["late"]
    check_run(ex, path, seed, size, late=True, title="the receiver starts late")


@pytest.mark.timeout(120)
def test_step6_clean_path_duplicates_and_reordering(impl):
    run_clean(load(impl, MODULE))


@pytest.mark.timeout(120)
def test_step6_ten_percent_loss(impl):
    run_ten(load(impl, MODULE))


@pytest.mark.timeout(120)
def test_step6_thirty_percent_loss(impl):
    run_thirty(load(impl, MODULE))


@pytest.mark.timeout(120)
def test_step6_the_receiver_starts_late(impl):
    run_late(load(impl, MODULE))


def check_stop_and_wait_on_the_wire(ex) -> None:
    path, seed, size = RUNS["stop-and-wait"]
    jobs, relay = check_run(ex, path, seed, size, window=1, timer=ex.FixedTimer(0.2),
                            timer_text="FixedTimer(0.2)", title="stop-and-wait on the wire (window=1)")
    story = Story("ex12_reliable step 2: stop-and-wait on the wire (window=1)")
    story.step("the test read the relay's record: every datagram each way, in the order it reached the relay")
    acked = None
    for flow, data in relay.record:
        got = kit.decode(data)
        if got is None:
            continue
        if flow.endswith(":down") and got.kind == kit.ACK:
            acked = got.number if acked is None or kit.seq_diff(got.number, acked) > 0 else acked
        elif flow.endswith(":up") and got.kind in (kit.DATA, kit.FIN):
            story.check(acked is not None and kit.seq_diff(got.number, acked) <= 0,
                        "each DATA or FIN sent only once the one before it was acknowledged (A n, then n)",
                        f"{show([data])} went out when the highest ACK seen was {acked}")


@pytest.mark.timeout(120)
def test_step2_stop_and_wait_on_a_lossy_path(impl):
    check_stop_and_wait_on_the_wire(load(impl, MODULE))


# == step 6: the command line, as a user runs it ============================================

SENT = re.compile(r"^sent (\d+) bytes to 127\.0\.0\.1:(\d+) in [\d.]+ s: (\d+) data datagrams, (\d+) datagrams sent, "
                  r"(\d+) retransmissions$")
RECEIVED = re.compile(r"^received (\d+) bytes from 127\.0\.0\.1:(\d+) in [\d.]+ s: (\d+) datagrams "
                      r"\((\d+) duplicates, (\d+) out of order\) -> (.+)$")


def _cli(impl: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"{impl}.{MODULE}", *args]


def _run_to_end(proc: subprocess.Popen, timeout: float) -> tuple[int | None, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err


def test_step6_command_line_through_the_lossy_relay(impl, tmp_path):
    story = Story("ex12_reliable step 6: the command line")
    path, seed, size = RUNS["command line"]
    source, copy = tmp_path / "book.bin", tmp_path / "copy.bin"
    source.write_bytes(random.Random(seed).randbytes(size))
    probe = _udp()
    port = probe.getsockname()[1]
    probe.close()
    relay = LossyUdpRelay(("127.0.0.1", port), path, seed, enabled=True)
    receiver = sender = None
    try:
        argv = _cli(impl, "receive", "--port", str(port), "--out", str(copy), "--wait", "30", "--give-up", "30")
        receiver = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        story.step("ran: python -m " + " ".join(argv[2:]))
        story.step(f"the kit's lossy relay listens on 127.0.0.1:{relay.address[1]}, towards port {port}: "
                   + _describe(path, seed))
        argv = _cli(impl, "send", "127.0.0.1", str(relay.address[1]), str(source), "--give-up", "30")
        sender = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        story.step("then ran: python -m " + " ".join(argv[2:]) + "  (the sender may start before the receiver "
                   "listens: its SYN is sent again)")
        s_code, s_out, s_err = _run_to_end(sender, 90)
        if s_code != 0 and receiver.poll() is None:
            receiver.kill()  # the sender failed: the receiver would only wait for nothing
        r_code, r_out, r_err = _run_to_end(receiver, 30)
    finally:
        relay.close()
        for proc in (sender, receiver):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    story.check(s_code == 0, "the sender to exit 0", f"exit {s_code}; stderr: {s_err.strip()[-300:]!r}")
    story.check(r_code == 0, "the receiver to exit 0", f"exit {r_code}; stderr: {r_err.strip()[-300:]!r}")
    story.check(copy.exists() and copy.read_bytes() == source.read_bytes(),
                "copy.bin byte for byte the same as book.bin (30000 bytes)",
                f"{copy.stat().st_size} bytes, not the same" if copy.exists() else "no copy.bin")
    sent, received = SENT.match(s_out.strip()), RECEIVED.match(r_out.strip())
    story.check(sent is not None and sent.group(1) == "30000" and sent.group(3) == "30",
                "the sender to print one line: 'sent 30000 bytes to 127.0.0.1:PORT in S s: 30 data datagrams, "
                "N datagrams sent, R retransmissions'", s_out)
    story.check(received is not None and received.group(1) == "30000" and received.group(6) == str(copy),
                "the receiver to print one line: 'received 30000 bytes from 127.0.0.1:PORT in S s: N datagrams "
                "(D duplicates, O out of order) -> FILE'", r_out)


def test_step6_command_line_when_nobody_answers(impl, tmp_path):
    story = Story("ex12_reliable step 6: the command line when nobody answers")
    probe = _udp()
    port = probe.getsockname()[1]
    probe.close()
    (tmp_path / "f.bin").write_bytes(b"x" * 3000)
    argv = _cli(impl, "send", "127.0.0.1", str(port), str(tmp_path / "f.bin"), "--give-up", "2")
    story.step(f"ran: python -m {' '.join(argv[2:])}  (nothing listens on port {port})")
    code, out, err = _run_to_end(subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  text=True), 30)
    lines = err.strip().splitlines()
    story.check(code not in (0, None) and len(lines) == 1 and "no answer" in err and "Traceback" not in err,
                "a non-zero exit after about 2 s and one line on stderr, 'send: no answer from 127.0.0.1:PORT ...'",
                f"exit {code}; stderr: {err.strip()[-300:]!r}")
    argv = _cli(impl, "receive", "--port", str(port), "--out", str(tmp_path / "nothing.bin"), "--wait", "1")
    story.step(f"ran: python -m {' '.join(argv[2:])}  (no sender comes)")
    code, out, err = _run_to_end(subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  text=True), 30)
    story.check(code not in (0, None) and err.strip().splitlines()[-1:] != []
                and err.strip().splitlines()[-1].startswith("receive: no sender within 1 s")
                and "Traceback" not in err and not (tmp_path / "nothing.bin").exists(),
                "a non-zero exit, 'receive: no sender within 1 s on port PORT' as the last line, and no file",
                f"exit {code}; stderr: {err.strip()[-300:]!r}")

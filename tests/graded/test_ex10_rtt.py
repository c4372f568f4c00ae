"""Exercise 10: RTT samples with Karn's rule, the RFC 6298 estimator, goodput (see exercises/ex10_rtt.py).

The captures in tests/graded/fixtures/ex10/ were recorded by the kit (the
book pasted through the lab's delayed, rate-limited, lossy router; the
recording script is beside them).  The references are tshark 4.0's values
on the same files, stored beside them: ``tcp.analysis.ack_rtt`` for every
ACK, and ``-z io,stat`` for the goodput.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.graded.teach import Story, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(60)]

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ex10"
CAPTURES = ["rtt_loss", "rtt_timeout"]
SENDER, RECEIVER = "10.0.0.1", "10.0.0.2"


def _fixture(name: str) -> tuple[list[dict], dict]:
    rows = list(csv.DictReader((FIXTURES / f"{name}.tshark.tsv").open(), delimiter="\t"))
    return rows, json.loads((FIXTURES / f"{name}.json").read_text())


def _tshark_samples(rows: list[dict], meta: dict) -> tuple[list[tuple[float, float, str]], list[str]]:
    """tshark's ack_rtt of the receiver's ACKs of new data: (time, rtt, frame) kept by Karn's rule, frames left out."""
    resent, highest, last_ack = [], 0, 0
    kept, karn = [], []
    for r in rows:
        seq, length, flags = int(r["tcp.seq"]), int(r["tcp.len"]), int(r["tcp.flags"], 16)
        if r["ip.src"] == meta["sender"]:
            end = seq + length + bool(flags & 0x02) + bool(flags & 0x01)
            if end > seq and seq < highest:
                resent.append((seq, end))
            highest = max(highest, end)
        elif flags & 0x10 and int(r["tcp.ack"]) > last_ack:
            ack = int(r["tcp.ack"])
            if r["tcp.analysis.ack_rtt"]:
                if any(start < ack and last_ack < stop for start, stop in resent):
                    karn.append(r["frame.number"])
                else:
                    kept.append((float(r["frame.time_relative"]), float(r["tcp.analysis.ack_rtt"]),
                                 r["frame.number"]))
            last_ack = ack
    return kept, karn


def _segments(ex, name: str, story: Story):
    meta = _fixture(name)[1]
    path = str(FIXTURES / f"{name}.pcap")
    story.step(f"read {name}.pcap (the book pasted by {meta['sender']} through a router with "
               f"{meta['scenario']['net']}) with the given read_segments and one_connection")
    return ex.one_connection(ex.read_segments(path), meta["sender"]), meta


def _seg(ex, t, src, flags, seq, ack=0, length=0):
    dst = RECEIVER if src == SENDER else SENDER
    return ex.Segment(t, src, 40000 if src == SENDER else 5050, dst, 5050 if src == SENDER else 40000, flags,
                      seq, ack, length)


def _fmt(values, scale=1000, unit="ms") -> str:
    return "[" + ", ".join(f"{v * scale:.3f}" for v in values) + f"] {unit}"


# -- RTT samples -------------------------------------------------------------------------

@pytest.mark.parametrize("name", CAPTURES)
def test_rtt_samples_match_tshark(impl, name):
    ex = load(impl, "ex10_rtt")
    story = Story(f"ex10_rtt.rtt_samples on {name}.pcap")
    conn, meta = _segments(ex, name, story)
    kept, karn = _tshark_samples(*_fixture(name))
    got = story.call("rtt_samples(segments, sender)", ex.rtt_samples, conn, meta["sender"])
    t0 = conn[0].time
    rel = [(round(s.time - t0, 6), s.rtt) for s in got]
    want = [(round(t, 6), rtt) for t, rtt, _ in kept]
    same = len(rel) == len(want) and all(a[0] == b[0] and abs(a[1] - b[1]) < 2e-6 for a, b in zip(rel, want))
    story.check(same,
                f"{len(want)} samples, equal to tshark's tcp.analysis.ack_rtt on the receiver's ACKs of new "
                f"data (first ones {_fmt([r for _, r in want[:6]])}); tshark measured {len(karn)} more ACKs "
                f"(frames {', '.join(karn[:8])}{'...' if len(karn) > 8 else ''}) that acknowledge bytes sent "
                "more than once: Karn's rule leaves those out",
                f"{len(rel)} samples, first ones {_fmt([r for _, r in rel[:6]])}",
                "one sample per ACK that acknowledges new data, measured from the newest segment it fully "
                "acknowledges; none when [previous ack, ack) holds retransmitted bytes")


def test_karn_rule_on_a_hand_made_capture(impl):
    ex = load(impl, "ex10_rtt")
    story = Story("ex10_rtt.rtt_samples: Karn's rule")
    s, r = SENDER, RECEIVER
    segments = [
        _seg(ex, 0.000, s, "S", 0), _seg(ex, 0.040, r, "SA", 0, 1), _seg(ex, 0.041, s, "A", 1, 1),
        _seg(ex, 0.050, s, "PA", 1, 1, 100),    # bytes 1-100
        _seg(ex, 0.051, s, "PA", 101, 1, 100),  # bytes 101-200: lost
        _seg(ex, 0.091, r, "A", 1, 101),        # ACK of the first: a sample, 41 ms
        _seg(ex, 0.300, s, "PA", 101, 1, 100),  # the retransmission timer fires: 101-200 again
        _seg(ex, 0.340, r, "A", 1, 201),        # ambiguous: the first copy or the second?
        _seg(ex, 0.350, s, "PA", 201, 1, 100),
        _seg(ex, 0.395, r, "A", 1, 301),        # a fresh segment: a sample again, 45 ms
    ]
    story.step("made a connection: SYN, SYN-ACK (40 ms), data 1-100 (ACKed after 41 ms), data 101-200 lost "
               "and resent at 300 ms (ACKed at 340 ms), data 201-300 ACKed after 45 ms")
    got = story.call("rtt_samples(segments, '10.0.0.1')", ex.rtt_samples, segments, s)
    rtts = [round(x.rtt, 6) for x in got]
    story.check(rtts == [0.04, 0.041, 0.045],
                "three samples: [40.000, 41.000, 45.000] ms (SYN -> SYN-ACK, 1-100, 201-300); none for the ACK "
                "of 101-200, which was sent twice (Karn's rule: the 40 ms since the second copy and the 289 ms "
                "since the first are both possible)", _fmt(rtts),
                "remember which sequence numbers were sent more than once")


# -- the RFC 6298 estimator ------------------------------------------------------------

def test_rfc6298_arithmetic(impl):
    ex = load(impl, "ex10_rtt")
    story = Story("ex10_rtt.RttEstimator.update")
    est = story.call("RttEstimator(min_rto=0.0)", ex.RttEstimator, min_rto=0.0)
    story.check(est.rto == 1.0 and est.srtt is None, "before any sample: RTO 1 s, no SRTT (RFC 6298, 2.1)",
                f"RTO {est.rto}, SRTT {est.srtt}")
    steps = [(0.100, 0.100, 0.050, 0.300), (0.200, 0.1125, 0.0625, 0.3625), (0.050, 0.1046875, 0.0625, 0.3546875)]
    for sample, srtt, rttvar, rto in steps:
        story.call(f"update({sample})", est.update, sample)
        story.check(abs(est.srtt - srtt) < 1e-9 and abs(est.rttvar - rttvar) < 1e-9 and abs(est.rto - rto) < 1e-9,
                    f"SRTT {srtt}, RTTVAR {rttvar}, RTO {rto} (RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| with the old "
                    f"SRTT, then SRTT = 7/8 SRTT + 1/8 R, RTO = SRTT + 4 RTTVAR)",
                    f"SRTT {est.srtt}, RTTVAR {est.rttvar}, RTO {est.rto}",
                    "the first sample: SRTT = R, RTTVAR = R/2; alpha = 1/8 weighs SRTT, beta = 1/4 RTTVAR; "
                    "update RTTVAR before SRTT")


def test_rto_minimum(impl):
    ex = load(impl, "ex10_rtt")
    story = Story("ex10_rtt.RttEstimator: the minimum RTO")
    rfc = story.call("RttEstimator()", ex.RttEstimator)
    for _ in range(3):
        story.call("update(0.040)", rfc.update, 0.040)
    story.check(abs(rfc.rto - 1.0) < 1e-9, "RTO 1.0 s: RFC 6298 (2.4) rounds an RTO below 1 s up to 1 s",
                f"RTO {rfc.rto}")
    linux = story.call("RttEstimator(min_rto=0.2)", ex.RttEstimator, min_rto=0.2)
    for _ in range(3):
        linux.update(0.040)
    story.check(abs(linux.rto - 0.2) < 1e-9, "RTO 0.2 s: SRTT + 4 RTTVAR = 0.040 + 4 x 0.01125 = 0.085 s is below "
                                             "the floor of 200 ms, the one Linux uses", f"RTO {linux.rto}")
    calm = ex.RttEstimator(min_rto=0.0)
    for _ in range(60):
        calm.update(0.040)
    story.step("a third estimator with min_rto=0: sixty samples of exactly 40 ms (RTTVAR shrinks towards 0)")
    story.check(abs(calm.rto - (calm.srtt + max(0.001, 4 * calm.rttvar))) < 1e-12 and calm.rto >= 0.041 - 1e-9,
                "RTO = SRTT + max(G, 4 RTTVAR) with G = 1 ms: at least 41 ms", f"RTO {calm.rto}")


def test_backoff(impl):
    ex = load(impl, "ex10_rtt")
    story = Story("ex10_rtt.RttEstimator.on_timeout")
    est = ex.RttEstimator()
    story.call("update(0.100)", est.update, 0.100)
    rtos = [story.call("on_timeout()", est.on_timeout) for _ in range(8)]
    story.check([round(x, 9) for x in rtos] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0],
                "each expiry doubles RTO (RFC 6298, 5.5), up to max_rto = 60 s: [2, 4, 8, 16, 32, 60, 60, 60]",
                rtos)
    story.call("update(0.100)", est.update, 0.100)
    story.check(abs(est.rto - 1.0) < 1e-9, "a new sample computes RTO afresh: 1 s again", f"RTO {est.rto}")


# -- goodput -------------------------------------------------------------------------

@pytest.mark.parametrize("name", CAPTURES)
def test_goodput_matches_tshark(impl, name):
    ex = load(impl, "ex10_rtt")
    story = Story(f"ex10_rtt.goodput on {name}.pcap")
    conn, meta = _segments(ex, name, story)
    want = list(meta["tshark_goodput_bytes"])
    while want and want[-1] == 0:  # tshark's table runs to the end of the capture
        want.pop()
    got = story.call("goodput(segments, sender, 0.1)", ex.goodput, conn, meta["sender"], 0.1)
    got_bytes = [round(x * 0.1 / 8, 3) for x in got]
    story.check(got_bytes == want,
                f"bytes of new data per 100 ms {want} (tshark -z io,stat: payload from the sender that tshark "
                "flags neither retransmission nor out-of-order; on a capture at the sender tshark calls a "
                "quick retransmission out-of-order), i.e. Mbit/s " + str([round(b * 8 / 0.1 / 1e6, 2) for b in want]),
                f"bytes per 100 ms {got_bytes}",
                "intervals start at the first segment (the SYN); a retransmission brings no new bytes")


def test_goodput_hand_made(impl):
    ex = load(impl, "ex10_rtt")
    story = Story("ex10_rtt.goodput")
    s, r = SENDER, RECEIVER
    segments = [
        _seg(ex, 10.00, s, "S", 0), _seg(ex, 10.04, r, "SA", 0, 1),
        _seg(ex, 10.05, s, "PA", 1, 1, 1000),   # interval 0
        _seg(ex, 10.15, s, "PA", 1001, 1, 500),  # interval 1
        _seg(ex, 10.16, r, "A", 1, 1501),
        _seg(ex, 10.45, s, "PA", 1001, 1, 800),  # interval 4: resends 1001-1500, new 1501-1800: 300 new bytes
        _seg(ex, 10.47, s, "PA", 1, 1, 1000),    # interval 4: an old retransmission, nothing new
    ]
    story.step("made a capture: SYN at 10.00 s; 1000 bytes at 10.05; 500 at 10.15; at 10.45 a segment of 800 "
               "bytes of which 500 were sent before; at 10.47 a copy of the first 1000")
    got = story.call("goodput(segments, '10.0.0.1', 0.1)", ex.goodput, segments, s, 0.1)
    want = [80_000.0, 40_000.0, 0.0, 0.0, 24_000.0]
    story.check(len(got) == len(want) and all(abs(a - b) < 1e-6 for a, b in zip(got, want)),
                f"{want} bit/s: 1000, 500, 0, 0 and 300 new bytes in the five 100-ms intervals from the SYN",
                got, "new bytes are those above the highest seq + length sent before; bytes * 8 / interval")

"""Why a segment was re-sent: the causes the annotator gives, on recorded captures and crafted ones."""

from __future__ import annotations

from pathlib import Path

from lab.capture import annotate, read_pcap
from lab.capture.decode import ACK, PSH, SYN, Segment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"


def _frames(name: str) -> dict:
    return {a.segment.number: a for a in annotate(read_pcap(FIXTURES / name))}


def test_loopback_tail_loss_probe_proved_spurious_by_a_dsack():
    """chatlab demo's capture: a 'retransmission' 6.5 ms after the original, nothing lost."""
    anns = _frames("chat_server_demo.pcap")
    probe = anns[18]
    assert probe.analysis == ["retransmission"]
    retx = probe.retransmission
    assert (retx.cause, retx.original_frame, retx.spurious_by) == ("tail_loss_probe", 17, ("dsack", 19))
    text = probe.annotation
    assert "tail loss probe" in text and "RFC 8985" in text and "delaying its ACK" in text
    assert "Frame 19 proves it was not needed" in text
    assert "D-SACK 146-171: these bytes arrived twice" in anns[19].annotation


def test_timeouts_backoff_fast_retransmit_and_recovery_in_the_lossy_capture():
    anns = _frames("lossy.pcap")
    first, second = anns[21].retransmission, anns[22].retransmission
    assert (first.cause, second.cause) == ("rto", "rto")
    assert first.original_frame == second.original_frame == 17
    assert first.silence >= 0.18 and second.silence >= 2 * 0.18, "the second timeout waited twice as long"
    assert "timeout number 2" in anns[22].annotation and "doubles" in anns[22].annotation
    fast = anns[37].retransmission
    assert (fast.cause, fast.evidence, fast.evidence_frame) == ("fast_retransmit", "sack", 36)
    assert "SACK in frame 36" in anns[37].annotation and "three duplicate ACKs (RFC 5681)" in anns[37].annotation
    assert anns[116].retransmission.cause == "rto_recovery" and anns[116].retransmission.evidence_frame == 114
    late = anns[125].retransmission
    assert late.cause == "already_acked" and late.timer_expired and late.spurious_by == ("dsack", 126)
    assert "never reached it" in anns[125].annotation


def test_every_retransmission_of_every_fixture_has_a_cause_and_an_explanation():
    for pcap in sorted(FIXTURES.glob("*.pcap*")):
        for ann in annotate(read_pcap(pcap)):
            if ann.segment.length and {"retransmission", "fast_retransmission"} & set(ann.analysis):
                assert ann.retransmission is not None, f"{pcap.name} frame {ann.segment.number}"
                assert "(tshark's label)" in ann.annotation, f"{pcap.name} frame {ann.segment.number}"


def _seg(n, t_ms, sport, dport, seq, ack, flags, payload=b"", ts=None):
    return Segment(n, int(t_ms * 1e6), "tcp", "10.0.0.1" if sport == 40000 else "10.0.0.2",
                   "10.0.0.2" if sport == 40000 else "10.0.0.1", sport, dport, payload, seq, ack, flags, 1000,
                   timestamps=ts)


def _eifel(tsecr: int):
    c, s = 40000, 5050
    return annotate([
        _seg(1, 0, c, s, 100, 0, SYN, ts=(10, 0)), _seg(2, 1, s, c, 500, 101, SYN | ACK, ts=(20, 10)),
        _seg(3, 2, c, s, 101, 501, ACK, ts=(11, 20)),
        _seg(4, 3, c, s, 101, 501, ACK | PSH, b"x" * 100, ts=(12, 20)),
        _seg(5, 400, c, s, 101, 501, ACK | PSH, b"x" * 100, ts=(400, 20)),   # after 397 ms of silence: the timer
        _seg(6, 401, s, c, 501, 201, ACK, ts=(401, tsecr)),
    ], {s})


def test_an_ack_echoing_the_first_copys_timestamp_proves_the_timeout_spurious():
    """RFC 3522 (Eifel): the ACK's TSecr is the TSval of the copy that arrived."""
    proved = _eifel(tsecr=12)
    assert proved[4].retransmission.cause == "rto"
    assert proved[4].retransmission.spurious_by == ("eifel", 6)
    assert "RFC 3522" in proved[4].annotation
    answered = _eifel(tsecr=400)   # the ACK answers the copy: it was needed
    assert answered[4].retransmission.spurious_by is None

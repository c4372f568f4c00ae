"""The annotator agrees with tshark on every packet of every fixture pcap, field by field.

The fixtures were recorded with tcpdump (tests/fixtures/pcaps/record.py) and
tshark 4.0.17's fields stored beside each one (.tshark.tsv), so this test
needs neither privileges nor tshark.  Compared for every TCP packet: the
stream, flags, relative and raw numbers, length, every tcp.analysis flag,
and the machinery of issue 13: the scaled window and its scale factor,
ack_rtt and the frame it acknowledges, bytes in flight, the RTO of a
retransmission, the SYN options (MSS, window scale, SACK permitted,
timestamps), the SACK and D-SACK blocks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.capture import annotate, read_pcap
from tests.capture.scenarios import read_expected

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"
PCAPS = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def _text(value) -> str:
    """A value as tshark -T fields prints it ("" for none, 9 decimals for times)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.9f}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def mine(ann) -> dict:
    """The annotator's values under tshark's field names."""
    s, t = ann.segment, ann.tcp
    return {
        "tcp.stream": str(ann.stream), "tcp.flags": f"0x{s.flags:04x}", "tcp.seq": str(ann.seq),
        "tcp.ack": str(ann.ack), "tcp.seq_raw": str(s.seq), "tcp.ack_raw": str(s.ack), "tcp.len": str(s.length),
        "tcp.nxtseq": str(t.nextseq), "tcp.window_size_value": str(s.window),
        "tcp.window_size": _text(t.window_size), "tcp.window_size_scalefactor": _text(t.window_size_scalefactor),
        "tcp.analysis.ack_rtt": _text(t.ack_rtt), "tcp.analysis.acks_frame": _text(t.acks_frame),
        "tcp.analysis.bytes_in_flight": _text(t.bytes_in_flight), "tcp.analysis.rto": _text(t.rto),
        "tcp.analysis.rto_frame": _text(t.rto_frame), "tcp.options.mss_val": _text(t.mss_val),
        "tcp.options.wscale.shift": _text(t.wscale_shift), "sack_perm": t.sack_perm,
        "tcp.options.timestamp.tsval": _text(t.tsval), "tcp.options.timestamp.tsecr": _text(t.tsecr),
        "tcp.options.sack_le": _text(t.sack_le), "tcp.options.sack_re": _text(t.sack_re),
        "tcp.options.sack.dsack_le": _text(t.dsack[0] if t.dsack else None),
        "tcp.options.sack.dsack_re": _text(t.dsack[1] if t.dsack else None),
        "analysis": sorted(ann.analysis),
    }


def theirs(row: dict, keys) -> dict:
    """tshark's row, in the same shape."""
    out = {k: row.get(k, "") for k in keys if k not in ("sack_perm", "analysis")}
    out["tcp.flags"] = f"0x{int(row['tcp.flags'], 16):04x}"
    out["sack_perm"] = bool(row.get("tcp.options.sack_perm"))   # tshark prints the option's bytes
    out["analysis"] = sorted(row["analysis"])
    return out


def test_fixtures_exist():
    names = {p.stem for p in PCAPS}
    assert {"handshake", "chat", "fin_close", "rst_close", "lossy", "udp"} <= names


@pytest.mark.parametrize("pcap", PCAPS, ids=lambda p: p.name)
def test_matches_tshark_packet_for_packet(pcap: Path):
    expected = read_expected(pcap.with_suffix(".tshark.tsv"))
    got = annotate(read_pcap(pcap))
    assert [a.segment.number for a in got] == [int(e["frame.number"]) for e in expected]
    for ann, exp in zip(got, expected):
        where = f"{pcap.name} frame {ann.segment.number}"
        if ann.segment.proto == "udp":
            assert ann.segment.length + 8 == int(exp["udp.length"]), where
            continue
        values = mine(ann)
        reference = theirs(exp, values)
        differ = {k: (values[k], reference[k]) for k in values if values[k] != reference[k]}
        assert not differ, f"{where}: (annotator, tshark) {differ}"


def test_lossy_fixture_has_the_analysis_flags_it_is_for():
    flags = {a for ann in annotate(read_pcap(FIXTURES / "lossy.pcap")) for a in ann.analysis}
    assert {"retransmission", "duplicate_ack", "fast_retransmission", "out_of_order"} <= flags
    flags = {a for ann in annotate(read_pcap(FIXTURES / "zero_window.pcap")) for a in ann.analysis}
    assert {"zero_window", "window_full", "window_update", "keep_alive"} <= flags
    flags = {a for ann in annotate(read_pcap(FIXTURES / "keepalive.pcap")) for a in ann.analysis}
    assert {"keep_alive", "keep_alive_ack"} <= flags


def test_the_fixtures_exercise_the_machinery():
    """Each value compared above really occurs, so the comparison cannot pass by having nothing to compare."""
    anns = [a for p in PCAPS for a in annotate(read_pcap(p)) if a.tcp is not None]
    assert sum(a.tcp.ack_rtt is not None for a in anns) > 100
    assert sum(a.tcp.bytes_in_flight is not None for a in anns) > 100
    assert any(a.tcp.sack_le for a in anns) and any(a.tcp.dsack for a in anns)
    assert any(a.tcp.rto is not None for a in anns)
    assert {a.tcp.window_size_scalefactor for a in anns} >= {-1, 1024}   # unknown (mid-stream) and shift 10
    assert any(a.tcp.mss_val for a in anns) and any(a.tcp.sack_perm for a in anns)


def test_window_full_fixture_uses_a_nonzero_window_scale():
    # Window sizes after the handshake are the field times 2**shift from the
    # SYNs: "window full" and "zero window" are only right if the scale is.
    annotated = annotate(read_pcap(FIXTURES / "window_full_scaled.pcap"))
    shifts = {ann.segment.wscale for ann in annotated if "S" in ann.flags}
    assert shifts and min(shifts) > 0, shifts
    flags = {a for ann in annotated for a in ann.analysis}
    assert {"window_full", "zero_window", "window_update"} <= flags

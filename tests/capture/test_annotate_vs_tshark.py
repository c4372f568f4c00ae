"""The annotator agrees with tshark on every packet of every fixture pcap.

The fixtures were recorded with tcpdump on lo (tests/fixtures/pcaps/record.py)
and tshark's fields stored beside each one (.tshark.tsv), so this test needs
neither privileges nor tshark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.capture import annotate, read_pcap
from tests.capture.scenarios import read_expected

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"
PCAPS = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))


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
        mine = {"stream": ann.stream, "flags": ann.segment.flags, "seq": ann.seq, "ack": ann.ack,
                "seq_raw": ann.segment.seq, "ack_raw": ann.segment.ack if "A" in ann.flags else 0,
                "len": ann.segment.length, "analysis": sorted(ann.analysis)}
        theirs = {"stream": int(exp["tcp.stream"]), "flags": int(exp["tcp.flags"], 16), "seq": int(exp["tcp.seq"]),
                  "ack": int(exp["tcp.ack"]), "seq_raw": int(exp["tcp.seq_raw"]),
                  "ack_raw": int(exp["tcp.ack_raw"]) if "A" in ann.flags else 0,
                  "len": int(exp["tcp.len"]), "analysis": sorted(exp["analysis"])}
        assert mine == theirs, where


def test_lossy_fixture_has_the_analysis_flags_it_is_for():
    flags = {a for ann in annotate(read_pcap(FIXTURES / "lossy.pcap")) for a in ann.analysis}
    assert {"retransmission", "duplicate_ack", "fast_retransmission", "out_of_order"} <= flags
    flags = {a for ann in annotate(read_pcap(FIXTURES / "zero_window.pcap")) for a in ann.analysis}
    assert {"zero_window", "window_full", "window_update", "keep_alive"} <= flags
    flags = {a for ann in annotate(read_pcap(FIXTURES / "keepalive.pcap")) for a in ann.analysis}
    assert {"keep_alive", "keep_alive_ack"} <= flags


def test_window_full_fixture_uses_a_nonzero_window_scale():
    # Window sizes after the handshake are the field times 2**shift from the
    # SYNs: "window full" and "zero window" are only right if the scale is.
    annotated = annotate(read_pcap(FIXTURES / "window_full_scaled.pcap"))
    shifts = {ann.segment.wscale for ann in annotated if "S" in ann.flags}
    assert shifts and min(shifts) > 0, shifts
    flags = {a for ann in annotated for a in ann.analysis}
    assert {"window_full", "zero_window", "window_update"} <= flags

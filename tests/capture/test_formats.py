"""Reading the same capture in every container and link layer gives the same annotation."""

from __future__ import annotations

import json
from pathlib import Path

from lab.capture import annotate, annotate_with_streams, read_frames, read_pcap, to_json, write_pcap
from lab.capture.decode import flag_letters, SYN, ACK, FIN, RST, PSH
from tests.capture import scenarios as sc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"


def _view(path: Path) -> list[tuple]:
    return [(a.segment.number, a.stream, a.flags, a.seq, a.ack, a.segment.length, tuple(a.analysis), a.annotation)
            for a in annotate(read_pcap(path))]


def test_same_capture_in_every_form(tmp_path: Path):
    reference = _view(FIXTURES / "chat.pcap")
    assert len(reference) == 32
    sc.to_sll(FIXTURES / "chat.pcap", tmp_path / "sll.pcap")
    sc.to_sll(FIXTURES / "chat.pcap", tmp_path / "sll2.pcap", v2=True)
    for path in (FIXTURES / "chat.pcapng", FIXTURES / "chat_null.pcap", FIXTURES / "chat_raw.pcap",
                 tmp_path / "sll.pcap", tmp_path / "sll2.pcap"):
        assert _view(path) == reference, path.name
    assert {f.linktype for f in read_frames(tmp_path / "sll2.pcap")} == {276}
    assert {f.linktype for f in read_frames(FIXTURES / "chat_any_sll.pcap")} == {113}


def test_write_then_read_round_trip(tmp_path: Path):
    frames = read_frames(FIXTURES / "lossy.pcap")
    write_pcap(tmp_path / "copy.pcap", frames)
    assert read_frames(tmp_path / "copy.pcap") == frames


def test_flag_letters_order():
    assert flag_letters(SYN) == "S"
    assert flag_letters(SYN | ACK) == "SA"
    assert flag_letters(FIN | ACK) == "AF"
    assert flag_letters(RST | ACK) == "AR"
    assert flag_letters(PSH | ACK) == "AP"


def test_json_shape_is_the_documented_one():
    rows = [json.loads(to_json(a)) for a in annotate(read_pcap(FIXTURES / "handshake.pcap"))]
    for key in ("time", "src", "sport", "dst", "dport", "proto", "flags", "seq", "ack", "seq_raw", "ack_raw",
                "len", "stream", "annotation", "analysis"):
        assert key in rows[0], key
    assert [r["flags"] for r in rows[:3]] == ["S", "SA", "A"]
    assert rows[1]["ack_raw"] == rows[0]["seq_raw"] + 1
    assert "SYN 1/3" in rows[0]["annotation"] and "established" in rows[2]["annotation"]


def test_explanations_of_close_and_udp():
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "rst_close.pcap"))
    rst = [a for a in anns if "R" in a.flags]
    assert len(rst) == 1 and rst[0].role == "client" and "unread" in rst[0].annotation
    assert streams[0].summary()["ended"] == "RST from the client"
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "fin_close.pcap"))
    assert [a.role for a in anns if "F" in a.flags] == ["server", "client"]
    assert streams[0].summary()["ended"] == "FIN from both sides"
    udp = annotate(read_pcap(FIXTURES / "udp.pcap"))
    assert udp and all(a.segment.proto == "udp" and "UDP datagram" in a.annotation for a in udp)
    assert udp[0].text == ["alice"]

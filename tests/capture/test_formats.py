"""Reading the same capture in every container and link layer gives the same annotation."""

from __future__ import annotations

import json
import struct
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
                "len", "stream", "annotation", "analysis", "window", "window_size", "window_size_scalefactor",
                "ack_rtt", "acks_frame", "bytes_in_flight", "rto", "rto_frame", "mss_val", "wscale_shift",
                "sack_perm", "tsval", "tsecr", "sack_le", "sack_re", "dsack_le", "dsack_re", "retransmission",
                "rtt_ambiguous"):
        assert key in rows[0], key
    assert [r["flags"] for r in rows[:3]] == ["S", "SA", "A"]
    assert rows[1]["ack_raw"] == rows[0]["seq_raw"] + 1
    assert "SYN 1/3" in rows[0]["annotation"] and "established" in rows[2]["annotation"]
    syn, synack, ack = rows[:3]
    assert syn["sack_perm"] is True and syn["mss_val"] == 65495 and syn["wscale_shift"] == 10
    assert syn["window_size_scalefactor"] is None, "a SYN's window is never scaled"
    assert synack["acks_frame"] == 1 and synack["ack_rtt"] > 0
    assert ack["window_size"] == ack["window"] * 1024 and ack["window_size_scalefactor"] == 1024
    assert ack["sack_perm"] is False and ack["mss_val"] is None and ack["retransmission"] is None


def test_json_of_udp_has_the_same_keys_with_nulls():
    tcp = json.loads(to_json(annotate(read_pcap(FIXTURES / "handshake.pcap"))[0]))
    udp = json.loads(to_json(annotate(read_pcap(FIXTURES / "udp.pcap"))[0]))
    assert set(udp) == set(tcp) and udp["window_size"] is None and udp["ack_rtt"] is None


def test_json_explains_a_retransmission():
    rows = [json.loads(to_json(a)) for a in annotate(read_pcap(FIXTURES / "chat_server_demo.pcap"))]
    probe = next(r for r in rows if r["frame"] == 18)
    assert probe["retransmission"] == {"cause": "tail_loss_probe", "original_frame": 17, "evidence_frame": None,
                                       "spurious_by": ["dsack", 19]}
    dsack = next(r for r in rows if r["frame"] == 19)
    assert (dsack["dsack_le"], dsack["dsack_re"]) == (146, 171) and dsack["sack_le"] == [146]


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


def test_udp_chat_datagrams_are_explained():
    from lab.capture import annotate
    from lab.capture.decode import Segment

    def dgram(n, src_port, dst_port, text):
        return Segment(n, n * 1000, "udp", "127.0.0.1", "127.0.0.1", src_port, dst_port, text.encode())

    anns = annotate([
        dgram(1, 40000, 5050, "J - alice " + "." * 40),
        dgram(2, 5050, 40000, "C 3f9a0c77d41e2b5a90c1e6f4"),
        dgram(3, 40000, 5050, "J 3f9a0c77d41e2b5a90c1e6f4 alice ......"),
        dgram(4, 5050, 40000, "L 1 - 14:03:04 --- welcome: you are alice"),
        dgram(5, 40000, 5050, "M 1 hello everyone"),
        dgram(6, 40000, 5050, "K"),
    ], {5050})
    assert [a.role for a in anns] == ["client", "server", "client", "server", "client", "client"]
    assert "without a cookie" in anns[0].annotation and '"alice"' in anns[0].annotation
    assert "anti-amplification" in anns[1].annotation
    assert "echoing the server's cookie" in anns[2].annotation
    assert "server line #1" in anns[3].annotation and "welcome" in anns[3].annotation
    assert 'chat line #1 of this client: a chat message to everyone: "hello everyone"' in anns[4].annotation
    assert "keepalive" in anns[5].annotation
    assert all(a.stream == 0 for a in anns)


def test_pcapng_with_two_interfaces_keeps_each_link_type_and_time_resolution():
    multi = read_frames(FIXTURES / "multi_interface.pcapng")
    eth, sll = read_frames(FIXTURES / "handshake_ns.pcap"), read_frames(FIXTURES / "chat_any_sll.pcap")
    assert {f.linktype for f in multi} == {1, 113}
    # nanosecond times (if_tsresol 9) and microsecond times (the default), each exactly as recorded
    assert sorted((f.ts_ns, f.data) for f in multi) == sorted((f.ts_ns, f.data) for f in eth + sll)
    assert any(f.ts_ns % 1000 for f in eth), "the Ethernet capture really has nanoseconds"


def _pcapng(tsresol: int, stamps: list[int], frame: bytes) -> bytes:
    """A minimal pcapng: section header, one interface with if_tsresol, one EPB per stamp."""
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 1) + bytes([tsresol]) + b"\0" * 3
                + struct.pack("<HH", 0, 0))
    epbs = b"".join(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(frame), len(frame)) + frame)
                    for t in stamps)
    return shb + idb + epbs


def test_pcapng_time_resolutions_decimal_and_power_of_two(tmp_path: Path):
    frame = read_frames(FIXTURES / "chat.pcap")[0].data
    cases = {6: (1_700_000_000_123_456, 1_700_000_000_123_456_000),      # microseconds
             9: (1_700_000_000_123_456_789, 1_700_000_000_123_456_789),  # nanoseconds
             0x80 | 20: (1_700_000_000 << 20 | 1 << 19, 1_700_000_000_500_000_000)}  # 2**-20 s: half a second
    for tsresol, (units, ns) in cases.items():
        path = tmp_path / f"r{tsresol}.pcapng"
        path.write_bytes(_pcapng(tsresol, [units], frame))
        assert [f.ts_ns for f in read_frames(path)] == [ns], hex(tsresol)


def test_short_snaplen_lengths_come_from_the_ip_header():
    anns = annotate(read_pcap(FIXTURES / "chat_snaplen.pcap"))
    data = [a for a in anns if a.segment.length]
    # -s 80 keeps 80 bytes of each frame: 14 Ethernet + 20 IP + 32 TCP, so 14 bytes of payload
    assert data and all(len(a.segment.payload) == min(14, a.segment.length) for a in data)
    assert max(a.segment.length for a in data) > 14 and sum(a.segment.truncated for a in data) >= 5
    cut = next(a for a in data if a.segment.truncated)
    assert cut.text == [] and "short snaplen" in cut.annotation


def test_ipv6_capture_is_annotated_like_ipv4():
    anns, streams = annotate_with_streams(read_pcap(FIXTURES / "chat_ipv6.pcap"))
    assert anns[0].segment.src == "::1" and "[::1]:" in anns[0].annotation
    assert [a.flags for a in anns[:3]] == ["S", "SA", "A"]
    assert any('asks for the name "alice"' in a.annotation for a in anns)
    assert all(s.ended == "FIN from both sides" for s in streams)

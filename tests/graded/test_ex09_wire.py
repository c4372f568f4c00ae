"""Exercise 9: annotating captured segments (see exercises/ex09_wire.py).

The capture is built with scapy and written with wrpcap (no privilege
needed).  The expected relative numbers were checked against
``tshark -T fields -e tcp.seq -e tcp.ack`` on the same file.
"""

from __future__ import annotations

import pytest

from tests.graded.teach import Story, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
S0 = 2**32 - 6  # the server's ISN: its sequence numbers wrap around 2**32 during the data

# (description, expected label, expected relative (seq, ack)) for each TCP segment, in order
EXPECTED = [
    ("client 40000 SYN, ISN 1000", "SYN 1/3", (0, 0)),
    ("server SYN-ACK, ISN 2**32-6", "SYN-ACK 2/3", (0, 1)),
    ("client ACK of the SYN-ACK (Ethernet padding after it)", "ACK 3/3", (1, 1)),
    ("client 40001, a connection already open when the capture started: 5 bytes", "DATA 5", (1, 1)),
    ("client 40000 sends b'alice\\r\\n'", "DATA 7", (1, 1)),
    ("server ACKs the 7 bytes", "ACK", (1, 8)),
    ("server ACKs the 5 bytes of 40001", "ACK", (1, 6)),
    ("server sends 40 bytes (its seq wraps past 2**32)", "DATA 40", (1, 8)),
    ("client ACKs them", "ACK", (8, 41)),
    ("client 40001 resets its connection", "RST", (6, 0)),
    ("client 40000 FIN", "FIN", (8, 41)),
    ("server FIN", "FIN", (41, 9)),
    ("client ACKs the server's FIN", "ACK", (9, 42)),
]


def _tcp(src, dst, sport, dport, flags, seq, ack, data=b"", pad=False):
    from scapy.all import IP, TCP, Ether, Padding, Raw

    pkt = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32,
                                               ack=ack % 2**32, window=65000)
    if data:
        pkt = pkt / Raw(data)
    if pad:  # a real Ethernet frame is at least 60 bytes: short ones are padded with zeros
        pkt = pkt / Padding(b"\x00" * 6)
    return pkt


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """A pcap with two interleaved TCP connections, plus an ARP and a UDP packet."""
    from scapy.all import ARP, IP, UDP, Ether, Raw, wrpcap

    c, s = CLIENT, SERVER
    packets = [
        _tcp(c, s, 40000, 5050, "S", 1000, 0),
        Ether() / ARP(psrc=c, pdst=s),
        _tcp(s, c, 5050, 40000, "SA", S0, 1001),
        _tcp(c, s, 40000, 5050, "A", 1001, S0 + 1, pad=True),
        _tcp(c, s, 40001, 5050, "PA", 500000, 700000, b"hello"),
        _tcp(c, s, 40000, 5050, "PA", 1001, S0 + 1, b"alice\r\n"),
        Ether() / IP(src=c, dst=s) / UDP(sport=5000, dport=5051) / Raw(b"0 hi"),
        _tcp(s, c, 5050, 40000, "A", S0 + 1, 1008, pad=True),
        _tcp(s, c, 5050, 40001, "A", 700000, 500005, pad=True),
        _tcp(s, c, 5050, 40000, "PA", S0 + 1, 1008, b"x" * 40),
        _tcp(c, s, 40000, 5050, "A", 1008, S0 + 41, pad=True),
        _tcp(c, s, 40001, 5050, "R", 500005, 0, pad=True),
        _tcp(c, s, 40000, 5050, "FA", 1008, S0 + 41, pad=True),
        _tcp(s, c, 5050, 40000, "FA", S0 + 41, 1009, pad=True),
        _tcp(c, s, 40000, 5050, "A", 1009, S0 + 42, pad=True),
    ]
    for n, pkt in enumerate(packets):
        pkt.time = 1_700_000_000 + n / 100
    path = tmp_path_factory.mktemp("pcap") / "chat.pcap"
    wrpcap(str(path), packets)
    return str(path)


def _segments(ex, story: Story, capture: str):
    """The segments of the capture, built by the test (independent of read_segments)."""
    from scapy.all import IP, TCP, rdpcap

    out = []
    for pkt in rdpcap(capture):
        if TCP in pkt:
            ip, tcp = pkt[IP], pkt[TCP]
            out.append(ex.Segment(float(pkt.time), ip.src, tcp.sport, ip.dst, tcp.dport, str(tcp.flags), tcp.seq,
                                  tcp.ack, ip.len - ip.ihl * 4 - tcp.dataofs * 4))
    story.step(f"parsed the test capture into {len(out)} Segment tuples (2 connections, interleaved)")
    return out


def _table(rows) -> str:
    return "\n" + "\n".join(f"    {n:>2}. {row}" for n, row in enumerate(rows, 1))


def test_read_segments(impl, capture):
    ex = load(impl, "ex09_wire")
    story = Story("ex09_wire.read_segments")
    story.step("wrote a pcap: 13 TCP segments, 1 ARP packet, 1 UDP datagram")
    got = story.call("read_segments(<chat.pcap>)", ex.read_segments, capture)
    story.check(isinstance(got, list) and len(got) == 13, "13 segments (ARP and UDP skipped)",
                f"{len(got) if isinstance(got, list) else got!r}")
    first, data = got[0], got[4]
    story.check(tuple(first)[1:] == (CLIENT, 40000, SERVER, 5050, "S", 1000, 0, 0),
                f"the first: Segment(time, '{CLIENT}', 40000, '{SERVER}', 5050, 'S', 1000, 0, 0)", first)
    story.check(abs(first.time - 1_700_000_000) < 1e-3, "time == 1700000000.0 (the capture time)", first.time)
    story.check(data.length == 7 and data.flags == "PA", "segment 5: flags 'PA', length 7 (b'alice\\r\\n')", data)
    lengths = [seg.length for seg in got]
    story.check(lengths == [0, 0, 0, 5, 7, 0, 0, 40, 0, 0, 0, 0, 0],
                "lengths [0, 0, 0, 5, 7, 0, 0, 40, 0, ...]: the 6 bytes of Ethernet padding are not data",
                lengths, "compute it from ip.len, ip.ihl and tcp.dataofs")


def test_read_segments_other_link_layer(impl, tmp_path):
    ex = load(impl, "ex09_wire")
    from scapy.all import IP, TCP, CookedLinux, wrpcap

    story = Story("ex09_wire.read_segments on a `tcpdump -i any` capture")
    path = tmp_path / "any.pcap"
    wrpcap(str(path), [CookedLinux() / IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=5050, flags="S", seq=7)])
    story.step("wrote a pcap with a 'Linux cooked' link layer (no Ethernet header): one SYN")
    got = story.call("read_segments(<any.pcap>)", ex.read_segments, str(path))
    story.check(len(got) == 1 and tuple(got[0])[1:] == (CLIENT, 40000, SERVER, 5050, "S", 7, 0, 0),
                "one Segment: 10.0.0.1:40000 -> 10.0.0.2:5050, 'S', seq 7", got,
                "use pkt[IP] and pkt[TCP], never the link layer")


def test_handshake_and_labels(impl, capture):
    ex = load(impl, "ex09_wire")
    story = Story("ex09_wire.label")
    segments = _segments(ex, story, capture)
    got = story.call("label(segments)", ex.label, segments)
    wanted = [label for _, label, _ in EXPECTED]
    story.check(list(got[:3]) == wanted[:3], "the handshake: ['SYN 1/3', 'SYN-ACK 2/3', 'ACK 3/3']", got[:3])
    story.check(list(got) == wanted, "these labels:" + _table(f"{lab:<12} {what}" for what, lab, _ in EXPECTED),
                _table(got))


def test_relative_sequence_numbers(impl, capture):
    ex = load(impl, "ex09_wire")
    story = Story("ex09_wire.relative_numbers")
    segments = _segments(ex, story, capture)
    got = story.call("relative_numbers(segments)", ex.relative_numbers, segments)
    wanted = [rel for _, _, rel in EXPECTED]
    story.check(list(got[:3]) == wanted[:3], "the handshake as Wireshark shows it: [(0, 0), (0, 1), (1, 1)]", got[:3],
                "the SYN sets its direction's base; the SYN counts as one byte")
    story.check([tuple(x) for x in got] == wanted,
                "Wireshark's relative (seq, ack):" + _table(f"{rel}  {what}" for what, _, rel in EXPECTED),
                _table(got), "bases per direction; seq - 1 mid-stream; ack - 1 for the other side; modulo 2**32")


def test_annotate_a_whole_capture(impl, capture):
    ex = load(impl, "ex09_wire")
    story = Story("ex09_wire: read_segments + annotate")
    segments = story.call("read_segments(<chat.pcap>)", ex.read_segments, capture)
    lines = story.call("annotate(segments)", ex.annotate, segments)
    story.check(len(lines) == 13 and "SYN 1/3" in lines[0] and "seq=41 ack=9" in lines[11],
                "13 annotated lines; the 12th (the server's FIN) with seq=41 ack=9", _table(lines))

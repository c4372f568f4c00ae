"""Exercise 9: reading captured segments (see exercises/ex09_wire.py).

The captures are tests/graded/captures/*.pcap, built packet by packet by
tests/graded/captures/make_ex09_captures.py; the numbers the student must
find are tshark's own, stored beside each capture (*.tshark.tsv, made by the
same script from the installed tshark, checked in CI by
tests/test_graded_captures.py).  The labels are the kit's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.graded.captures.make_ex09_captures import read_tsv
from tests.graded.teach import Story, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]

CAPTURES = Path(__file__).resolve().parent / "captures"
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"

# (description, expected label) for each TCP segment of two_connections.pcap, in order
EXPECTED = [
    ("client 40000 SYN, ISN 1000", "SYN 1/3"),
    ("server SYN-ACK, ISN 2**32-6", "SYN-ACK 2/3"),
    ("client ACK of the SYN-ACK (Ethernet padding after it)", "ACK 3/3"),
    ("client 40001, a connection already open when the capture started: 5 bytes", "DATA 5"),
    ("client 40000 sends b'alice\\r\\n'", "DATA 7"),
    ("server ACKs the 7 bytes", "ACK"),
    ("server ACKs the 5 bytes of 40001", "ACK"),
    ("server sends 40 bytes (its seq wraps past 2**32)", "DATA 40"),
    ("client ACKs them", "ACK"),
    ("client 40001 resets its connection", "RST"),
    ("client 40000 FIN", "FIN"),
    ("server FIN", "FIN"),
    ("client ACKs the server's FIN", "ACK"),
]


@pytest.fixture(scope="module")
def capture() -> str:
    """Two interleaved TCP connections, plus an ARP and a UDP packet."""
    return str(CAPTURES / "two_connections.pcap")


def tshark(name: str) -> list[dict[str, str]]:
    """tshark's reading of captures/NAME.pcap: one row per TCP segment, in order."""
    return read_tsv(CAPTURES / f"{name}.tshark.tsv")


def _segments(ex, story: Story, capture: str):
    """The segments of the capture, built by the test (independent of read_segments)."""
    from scapy.all import IP, TCP, rdpcap

    out = []
    for pkt in rdpcap(capture):
        if TCP in pkt:
            ip, tcp = pkt[IP], pkt[TCP]
            out.append(ex.Segment(float(pkt.time), ip.src, tcp.sport, ip.dst, tcp.dport, str(tcp.flags), tcp.seq,
                                  tcp.ack, ip.len - ip.ihl * 4 - tcp.dataofs * 4))
    story.step(f"parsed {Path(capture).name} into {len(out)} Segment tuples")
    return out


def _table(rows) -> str:
    return "\n" + "\n".join(f"    {n:>2}. {row}" for n, row in enumerate(rows, 1))


def test_read_segments(impl, capture):
    ex = load(impl, "ex09_wire")
    story = Story("ex09_wire.read_segments")
    story.step("read two_connections.pcap: 13 TCP segments, 1 ARP packet, 1 UDP datagram")
    got = story.call("read_segments(<two_connections.pcap>)", ex.read_segments, capture)
    story.check(isinstance(got, list) and len(got) == 13, "13 segments (ARP and UDP skipped)",
                f"{len(got) if isinstance(got, list) else got!r}")
    first, data = got[0], got[4]
    story.check(tuple(first)[1:] == (CLIENT, 40000, SERVER, 5050, "S", 1000, 0, 0),
                f"the first: Segment(time, '{CLIENT}', 40000, '{SERVER}', 5050, 'S', 1000, 0, 0)", first)
    story.check(abs(first.time - 1_700_000_000) < 1e-3, "time == 1700000000.0 (the capture time)", first.time)
    story.check(data.length == 7 and data.flags == "PA", "segment 5: flags 'PA', length 7 (b'alice\\r\\n')", data)
    lengths = [seg.length for seg in got]
    wanted = [int(row["tcp.len"]) for row in tshark("two_connections")]
    story.check(lengths == wanted,
                f"the lengths tshark gives (tcp.len): {wanted}; the 6 bytes of Ethernet padding are not data",
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
    wanted = [label for _, label in EXPECTED]
    story.check(list(got[:3]) == wanted[:3], "the handshake: ['SYN 1/3', 'SYN-ACK 2/3', 'ACK 3/3']", got[:3])
    story.check(list(got) == wanted, "these labels:" + _table(f"{lab:<12} {what}" for what, lab in EXPECTED),
                _table(got))


@pytest.mark.parametrize("name", ["two_connections", "round_trips"])
def test_relative_sequence_numbers(impl, name):
    ex = load(impl, "ex09_wire")
    story = Story(f"ex09_wire.relative_numbers on {name}.pcap")
    segments = _segments(ex, story, str(CAPTURES / f"{name}.pcap"))
    got = story.call("relative_numbers(segments)", ex.relative_numbers, segments)
    wanted = [(int(row["tcp.seq"]), int(row["tcp.ack"])) for row in tshark(name)]
    story.check(list(map(tuple, got[:3])) == wanted[:3],
                f"the handshake as Wireshark shows it: {wanted[:3]}", got[:3],
                "the SYN sets its direction's base; the SYN takes one sequence number")
    story.check([tuple(x) for x in got] == wanted,
                "tshark's relative (seq, ack) (tcp.seq, tcp.ack):" + _table(wanted), _table(got),
                "bases per direction; seq - 1 mid-stream; ack - 1 for the other side; modulo 2**32")


def test_annotate_a_whole_capture(impl, capture):
    ex = load(impl, "ex09_wire")
    story = Story("ex09_wire: read_segments + annotate")
    segments = story.call("read_segments(<two_connections.pcap>)", ex.read_segments, capture)
    lines = story.call("annotate(segments)", ex.annotate, segments)
    story.check(len(lines) == 13 and "SYN 1/3" in lines[0] and "seq=41 ack=9" in lines[11],
                "13 annotated lines; the 12th (the server's FIN) with seq=41 ack=9", _table(lines))


def _describe(seg, n: int) -> str:
    """Segment number N (from 1) for a message: its direction, flags and length."""
    return f"segment {n} ({seg.src}:{seg.sport} -> {seg.dst}:{seg.dport} [{seg.flags}] len={seg.length})"


def _differences(story: Story, what: str, wanted: list, got: list, show) -> None:
    """Fail with the first differences between two lists of per-segment values."""
    if list(got) == wanted:
        return
    lines = [f"    segment {n:>2}: tshark {show(w)}, you {show(g)}"
             for n, (w, g) in enumerate(zip(wanted, got), 1) if w != g][:6]
    if len(got) != len(wanted):
        lines.append(f"    ({len(got)} values for {len(wanted)} segments)")
    story.fail(f"{what}, segment by segment, as tshark computes it on the same capture", "\n" + "\n".join(lines))


@pytest.mark.parametrize("name", ["round_trips", "two_connections"])
def test_rtt_samples_agree_with_tshark(impl, name):
    ex = load(impl, "ex09_wire")
    story = Story(f"ex09_wire.rtt_samples on {name}.pcap")
    segments = _segments(ex, story, str(CAPTURES / f"{name}.pcap"))
    rows = tshark(name)
    position = {row["frame.number"]: n for n, row in enumerate(rows)}  # tshark's frames count the ARP and UDP too
    wanted = [(n, position[row["tcp.analysis.acks_frame"]], float(row["tcp.analysis.ack_rtt"]))
              for n, row in enumerate(rows) if row["tcp.analysis.acks_frame"]]
    got = story.call("rtt_samples(segments)", ex.rtt_samples, segments)
    story.step(f"tshark finds {len(wanted)} samples (tcp.analysis.acks_frame and tcp.analysis.ack_rtt)")
    pairs = [(i, j) for i, j, _ in got]
    missing = [w for w in wanted if (w[0], w[1]) not in pairs]
    extra = [g for g in got if (g[0], g[1]) not in [(w[0], w[1]) for w in wanted]]
    if missing or extra:
        lines = [f"    missing: {_describe(segments[i], i + 1)}, ack={rows[i]['tcp.ack']} (relative), acknowledges "
                 f"segment {j + 1} (seq={rows[j]['tcp.seq']} len={rows[j]['tcp.len']}: it ends at that ack), "
                 f"{seconds * 1000:.1f} ms after it" for i, j, seconds in missing[:4]]
        lines += [f"    not a sample for tshark: segment {i + 1} acknowledging segment {j + 1}" for i, j, _ in extra[:4]]
        story.fail("an RTT sample for each ACK whose ack number is exactly the end of a segment still waiting "
                   "for its acknowledgement (timed from that segment's first transmission)", "\n" + "\n".join(lines),
                   "a retransmission never joins the waiting list; a cumulative ACK gives one sample, for the "
                   "segment it ends at; a duplicate ACK gives none")
    story.check([(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in wanted],
                "the samples in the order of the ACKs", pairs)
    off = [(i, j, seconds, theirs) for (i, j, seconds), (_, _, theirs) in zip(got, wanted)
           if abs(seconds - theirs) > 2e-6]
    story.check(not off, "each sample's seconds = the ACK's time minus the acknowledged segment's time",
                "\n" + "\n".join(f"    segment {i + 1} -> {j + 1}: tshark {theirs:.6f} s, you {seconds:.6f} s"
                                  for i, j, seconds, theirs in off[:4]))


@pytest.mark.parametrize("name", ["round_trips", "two_connections"])
def test_bytes_in_flight_agree_with_tshark(impl, name):
    ex = load(impl, "ex09_wire")
    story = Story(f"ex09_wire.bytes_in_flight on {name}.pcap")
    segments = _segments(ex, story, str(CAPTURES / f"{name}.pcap"))
    wanted = [int(row["tcp.analysis.bytes_in_flight"]) if row["tcp.analysis.bytes_in_flight"] else None
              for row in tshark(name)]
    got = story.call("bytes_in_flight(segments)", ex.bytes_in_flight, segments)
    story.step("compared with tshark's tcp.analysis.bytes_in_flight (None: a segment without data)")
    _differences(story, "the bytes in flight of each data segment: the highest end its direction has sent minus "
                 "the latest ack number from the other side", wanted, list(got), repr)


@pytest.mark.parametrize("name", ["round_trips", "two_connections"])
def test_retransmissions_agree_with_tshark(impl, name):
    ex = load(impl, "ex09_wire")
    story = Story(f"ex09_wire.retransmissions on {name}.pcap")
    segments = _segments(ex, story, str(CAPTURES / f"{name}.pcap"))
    wanted = [n for n, row in enumerate(tshark(name)) if row["tcp.analysis.retransmission"]]
    got = story.call("retransmissions(segments)", ex.retransmissions, segments)
    story.check(list(got) == wanted,
                f"{wanted}: the positions (from 0) of the segments tshark flags tcp.analysis.retransmission"
                + "".join(f"\n    {_describe(segments[n], n + 1)}: its bytes were sent before"
                                      for n in wanted),
                list(got), "a segment with data (or SYN, FIN) whose seq is before the highest end its direction "
                "has sent")

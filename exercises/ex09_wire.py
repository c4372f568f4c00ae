"""Exercise 9: reading the wire -- what a capture tells about a TCP connection.

What you learn
--------------
A capture file (pcap) holds the packets exactly as they crossed an
interface: link-layer header, IP header, TCP header, data.  Reading it, you
see what your sockets did: the three-way handshake that ``connect`` and
``accept`` hid, the data segments, the ACKs, the FINs (or an RST) -- and,
computing a little, how long each round trip took, how many bytes were on
their way, and which segments had to be sent again.

Every TCP segment carries:

- *flags*: SYN (open), ACK (the ack field is valid), FIN (no more data from
  me), RST (abort), PSH.  PSH is a hint from the sender: Linux sets it on
  the last segment of each ``send()``, and a receiver hands in-order data to
  the application whether PSH is set or not.  scapy writes the flags as
  letters: ``"S"``, ``"SA"``, ``"A"``, ``"PA"``, ``"FA"``, ``"R"``, ``"RA"``;
- *seq*: the number of the segment's first byte in the sender's byte
  stream.  The first one, the *initial sequence number* (ISN) in the SYN,
  is not simply random: RFC 9293 (with RFC 6528) makes it a clock plus a
  keyed hash of the connection's addresses and ports.  The clock keeps the
  numbers of a new connection away from those of an old one with the same
  addresses (so late old segments are not taken for new data); the secret
  hash stops an attacker from guessing them (so nobody can inject segments
  into a connection they cannot see).  The SYN and the FIN each take one
  sequence number, although they carry no data byte;
- *ack*: the next byte the sender expects from the other side.

Raw sequence numbers are huge.  Wireshark shows *relative* numbers: for each
direction, subtract a base -- the ISN from that direction's SYN -- so the SYN
has seq 0, the first data byte is 1, and ``ack`` counts bytes received + 1.
If a capture starts mid-stream (no SYN for a direction), take ``seq - 1`` of
the first segment seen in that direction as its base (so it shows as 1), or
``ack - 1`` if that direction's number first appears in the other side's
ack field.  Compute modulo 2**32.

The *end* of a segment is the sequence number just after it:
``seq + length``, plus one for a SYN, plus one for a FIN (modulo 2**32).
An ACK whose ack number is a segment's end acknowledges that segment and
everything before it.  From the ends, three things Wireshark computes (and
you will, on the same captures; the tests compare with tshark 4.0.17):

- **RTT samples.**  When an ACK acknowledges exactly up to the end of a
  segment, the time between them is a sample of the round-trip time.
  Where the capture was taken matters: captured on the client, a sample for
  a client segment is a round trip (to the server and back), and a sample
  for a server segment is only the client's own delay before its ACK
  (0.1 ms, or the 40 ms of a delayed ACK).  A segment is timed from its
  *first* transmission: for a segment that waited behind a lost one, or was
  itself resent, the sample includes the time spent recovering.  TCP
  itself does not take a sample from an ACK that covers retransmitted data
  (Karn's rule, RFC 6298 section 3; exercise 10 builds TCP's estimator).
- **Bytes in flight.**  For a segment that carries data: how many bytes
  its sender has sent that the other side has not acknowledged yet, this
  segment included.  It is what the sender's window allows to be on the
  way.
- **Retransmissions.**  A segment whose bytes were sent before: it brings
  nothing new.  Wireshark tells several kinds apart (a *fast*
  retransmission after duplicate ACKs, an *out-of-order* segment that
  arrives less than one handshake round trip after the highest one, a
  keep-alive); the captures of this exercise hold only segments resent
  after the retransmission timeout, the plain kind.

The packets of this exercise come from a pcap file, read with scapy's
``rdpcap``.  Read the IP and TCP layers (``pkt[IP]``, ``pkt[TCP]``), never
the link layer: loopback captures have a (zeroed) Ethernet header,
``tcpdump -i any`` a "Linux cooked" one, macOS yet another.

Try it on a capture of your own (``chatlab sniff --write chat.pcap``, or
``sudo tcpdump -i lo -w chat.pcap port 5050``), or on the tests' own
``tests/graded/captures/round_trips.pcap``::

    python -m exercises.ex09_wire tests/graded/captures/round_trips.pcap

What to write
-------------
``read_segments``, ``relative_numbers``, ``label``, ``rtt_samples``,
``bytes_in_flight`` and ``retransmissions``.  ``segment_end``,
``is_after`` and ``annotate`` (which puts the first three together into
readable lines) are given.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

MOD = 2**32


def is_after(a: int, b: int) -> bool:
    """True when sequence number A comes after B, modulo 2**32 (RFC 9293 compares this way).

    Sequence numbers wrap around: 5 comes after 2**32 - 10.  A is after B
    when going forward from B to A takes less than half the number space.
    """
    return 0 < (a - b) % MOD < 2**31


class Segment(NamedTuple):
    """One captured TCP segment, already parsed."""

    time: float  # capture time, seconds since the epoch
    src: str  # source IP address
    sport: int  # source port
    dst: str  # destination IP address
    dport: int  # destination port
    flags: str  # scapy's letters, e.g. "S", "SA", "A", "PA", "FA", "R"
    seq: int  # raw sequence number
    ack: int  # raw acknowledgement number (meaningful when "A" in flags)
    length: int  # bytes of TCP payload (data), 0 for a bare ACK


def read_segments(path: str) -> list[Segment]:
    """The TCP segments of the pcap file PATH, in capture order.

    - ``from scapy.all import rdpcap, IP, TCP`` (inside the function: scapy
      is slow to import) and ``rdpcap(path)``;
    - skip packets without an IP and a TCP layer (ARP, UDP, IPv6, ...);
    - ``time`` is ``float(pkt.time)``; ``flags`` is ``str(tcp.flags)``;
    - ``length`` is the TCP payload size computed from the headers: IP total
      length (``ip.len``) minus the IP header (``ip.ihl * 4``) minus the TCP
      header (``tcp.dataofs * 4``).  Do not use ``len(tcp.payload)``: on
      Ethernet a short frame is padded to 60 bytes, and that padding is not
      TCP data.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write read_segments() in exercises/ex09_wire.py")


def relative_numbers(segments: list[Segment]) -> list[tuple[int, int]]:
    """Wireshark's relative (seq, ack) of each segment, in order.

    A *direction* is ``(src, sport, dst, dport)``; the opposite direction is
    ``(dst, dport, src, sport)``.  Keep a base per direction:

    - a SYN (``"S" in flags``) sets the base of its direction to its seq;
    - otherwise, the first time a direction is seen without a base, its
      base is ``seq - 1``;
    - when a segment has the ACK flag and the *opposite* direction has no
      base yet, that base becomes ``ack - 1``.

    Relative seq = ``(seq - base) % 2**32``.  Relative ack =
    ``(ack - base of the opposite direction) % 2**32`` when the ACK flag is
    set, else 0.  Set the bases of a segment (its own, then the opposite)
    before computing its numbers.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write relative_numbers() in exercises/ex09_wire.py")


def label(segments: list[Segment]) -> list[str]:
    """A short label for each segment, in order, from this list (first match wins):

    ==============  ==========================================================
    ``"RST"``       the RST flag is set
    ``"SYN 1/3"``   SYN without ACK: a client opens a connection
    ``"SYN-ACK 2/3"`` SYN with ACK: the server accepts
    ``"ACK 3/3"``   the first segment after a SYN-ACK, in the opposite
                    direction of that SYN-ACK, with the ACK flag, no SYN, and
                    ``ack == SYN-ACK's seq + 1``: the handshake is complete
    ``"FIN"``       the FIN flag is set
    ``"DATA n"``    carries n > 0 bytes of data, e.g. ``"DATA 6"``
    ``"ACK"``       anything else (a bare acknowledgement)
    ==============  ==========================================================

    A capture may hold several connections, interleaved: remember each
    SYN-ACK by the direction its ACK 3/3 must come from, and forget it once
    that ACK 3/3 was seen.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write label() in exercises/ex09_wire.py")


def segment_end(seg: Segment) -> int:
    """The sequence number just after SEG: seq + length, plus one for a SYN, plus one for a FIN."""
    return (seg.seq + seg.length + ("S" in seg.flags) + ("F" in seg.flags)) % MOD


def rtt_samples(segments: list[Segment]) -> list[tuple[int, int, float]]:
    """Wireshark's RTT samples: ``(i, j, seconds)`` when segment I acknowledges segment J.

    I and J are positions in SEGMENTS (from 0); SECONDS is
    ``segments[i].time - segments[j].time``.  Wireshark's rule:

    - keep, for each direction, the segments still waiting for their
      acknowledgement.  A segment joins that list when it carries data, a
      SYN or a FIN, and its end (``segment_end``) is after the highest end
      seen so far in its direction (for the first segment of a direction:
      always).  So a retransmission, which brings nothing new, never joins:
      its bytes are timed from their first transmission;
    - for each segment with the ACK flag, look at the list of the
      *opposite* direction: the waiting segment whose end equals the ack
      number gives the sample ``(i, j, seconds)``; then remove from that
      list every segment whose end is not after the ack number (they are
      all acknowledged now).

    An ACK that covers several segments gives one sample, for the one it
    ends exactly at; a duplicate ACK gives none.  Return the samples in the
    order of the ACKs.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write rtt_samples() in exercises/ex09_wire.py")


def bytes_in_flight(segments: list[Segment]) -> list[int | None]:
    """Wireshark's bytes in flight for each segment that carries data; None for the others.

    For a segment with ``length > 0``: the highest end sent so far in its
    direction (this segment included) minus the latest ack number received
    from the opposite direction, modulo 2**32.  If the opposite direction
    has acknowledged nothing yet, count from the first sequence number seen
    in this direction instead.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write bytes_in_flight() in exercises/ex09_wire.py")


def retransmissions(segments: list[Segment]) -> list[int]:
    """The positions (from 0) of the segments Wireshark calls retransmissions.

    A segment that carries data, a SYN or a FIN is a retransmission when its
    seq is *before* the highest end seen so far in its direction: those
    bytes were sent already.  (Wireshark also names fast retransmissions,
    out-of-order segments and keep-alives; the exercise's captures have
    none: see What you learn.)
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write retransmissions() in exercises/ex09_wire.py")


def annotate(segments: list[Segment]) -> list[str]:
    """One readable line per segment: number, time, direction, label, relative numbers."""
    if not segments:
        return []
    start = segments[0].time
    lines = []
    for n, (seg, (rel_seq, rel_ack), text) in enumerate(zip(segments, relative_numbers(segments), label(segments)), 1):
        lines.append(f"{n:>4} {seg.time - start:8.6f}  {seg.src}:{seg.sport} -> {seg.dst}:{seg.dport}  "
                     f"[{seg.flags}]  {text:<12} seq={rel_seq} ack={rel_ack} len={seg.length}")
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m exercises.ex09_wire FILE.pcap")
    captured = read_segments(sys.argv[1])
    for row in annotate(captured):
        print(row)
    print()
    for i, j, seconds in rtt_samples(captured):
        print(f"segment {i + 1} acknowledges segment {j + 1}, {seconds * 1000:.1f} ms after it")
    flight = [(i + 1, n) for i, n in enumerate(bytes_in_flight(captured)) if n is not None]
    print("bytes in flight:", ", ".join(f"segment {i}: {n}" for i, n in flight) or "no data")
    print("retransmissions:", ", ".join(f"segment {i + 1}" for i in retransmissions(captured)) or "none")

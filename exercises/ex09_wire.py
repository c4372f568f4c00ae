"""Exercise 9: reading the wire -- annotating captured TCP segments.

What you learn
--------------
A capture file (pcap) holds the packets exactly as they crossed an
interface: link-layer header, IP header, TCP header, data.  Reading it, you
see what your sockets did: the three-way handshake that ``connect`` and
``accept`` hid, the data segments, the ACKs, the FINs (or an RST).

Every TCP segment carries:

- *flags*: SYN (open), ACK (the ack field is valid), PSH (push data to the
  application), FIN (no more data from me), RST (abort).  scapy writes them
  as letters: ``"S"``, ``"SA"``, ``"A"``, ``"PA"``, ``"FA"``, ``"R"``, ``"RA"``;
- *seq*: the number of the segment's first byte in the sender's byte stream.
  Each side picks a random initial sequence number (ISN) in its SYN; the SYN
  and the FIN each count as one byte;
- *ack*: the next byte the sender expects from the other side.

Raw sequence numbers are huge and random.  Wireshark shows *relative*
numbers: for each direction, subtract a base -- the ISN from that
direction's SYN -- so the SYN has seq 0, the first data byte is 1, and
``ack`` counts bytes received + 1.  If a capture starts mid-stream (no SYN
for a direction), take ``seq - 1`` of the first segment seen in that
direction as its base (so it shows as 1), or ``ack - 1`` if that direction's
number first appears in the other side's ack field.  Compute modulo 2**32.

The packets of this exercise come from a pcap file, read with scapy's
``rdpcap``.  Read the IP and TCP layers (``pkt[IP]``, ``pkt[TCP]``), never
the link layer: loopback captures have a (zeroed) Ethernet header,
``tcpdump -i any`` a "Linux cooked" one, macOS yet another.

Try it on a capture of your own (``chatlab sniff --write chat.pcap``, or
``sudo tcpdump -i lo -w chat.pcap port 5050``)::

    python -m exercises.ex09_wire chat.pcap

What to write
-------------
``read_segments``, ``relative_numbers`` and ``label``.  ``annotate`` (which
puts them together into readable lines) is given.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

MOD = 2**32


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
    for row in annotate(read_segments(sys.argv[1])):
        print(row)

"""Watch the loopback wire during a graded test (privileged tests only).

On ``lo`` every packet is seen twice, once outgoing and once incoming (this
is why scapy's default sniffer shows duplicates); we keep only the incoming
copy so each segment appears once.  No libpcap, no BPF: filtering is done
in Python.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

PACKET_OUTGOING = 4  # linux/if_packet.h: the copy of a packet we sent
ETH_P_IP = 0x0800
QUIET = 0.3  # seconds without a packet, once the block has ended, before the capture stops


@dataclass(frozen=True)
class Seg:
    """One TCP segment seen on the wire."""

    sport: int
    dport: int
    flags: str  # scapy's letters: "S", "SA", "A", "PA", "FA", "R", ...
    seq: int
    ack: int
    length: int

    def has(self, letter: str) -> bool:
        return letter in self.flags

    def __str__(self) -> str:
        return f"{self.sport}->{self.dport} [{self.flags}] seq={self.seq} ack={self.ack} len={self.length}"


class LoopbackWatch:
    """Capture the TCP segments to or from PORT on lo while a ``with`` block runs.

    A raw AF_PACKET socket bound to lo, read by a thread: the socket is open
    before ``__enter__`` returns, so the SYN cannot be missed, and
    ``recvfrom`` tells us the packet type, so the outgoing copy of each
    packet is dropped and every segment appears once.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.segments: list[Seg] = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "LoopbackWatch":
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._read, daemon=True, name="graded-wire")
        self._thread.start()
        return self

    def _read(self) -> None:
        deadline = time.monotonic() + 60  # bounded even if nobody stops us
        quiet_since = None  # once stopping: when the queue was last found empty
        while time.monotonic() < deadline:
            try:
                frame, address = self._sock.recvfrom(65535)
            except socket.timeout:
                if self._stop.is_set():
                    now = time.monotonic()
                    quiet_since = quiet_since or now
                    if now - quiet_since >= QUIET:
                        return  # everything sent before the block ended has been read
                continue
            except OSError:
                return
            quiet_since = None
            if address[2] == PACKET_OUTGOING:
                continue
            seg = parse_tcp(frame[14:])  # lo has a 14-byte (zeroed) Ethernet header
            if seg is not None and self.port in (seg.sport, seg.dport):
                self.segments.append(seg)

    def __exit__(self, *exc) -> None:
        # Every segment sent on lo before now is already queued on our socket; the
        # reader stops once the queue has stayed empty for QUIET seconds (late ACKs
        # included), however long the queue takes to drain on a busy machine.
        self._stop.set()
        self._thread.join(10)
        self._sock.close()

    def describe(self) -> str:
        return "\n".join(f"    {seg}" for seg in self.segments) or "    (no segments at all)"


_FLAG_LETTERS = [(0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "A"), (0x20, "U")]


def parse_tcp(packet: bytes) -> Seg | None:
    """Parse an IPv4 packet; return its TCP segment or None."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != 6:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack("!H", packet[2:4])[0]
    tcp = packet[ihl:total]
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack, offset_byte, flag_byte = struct.unpack("!HHIIBB", tcp[:14])
    header = (offset_byte >> 4) * 4
    # scapy's order of letters (FSRPAU), so "SA", "PA", "FA" read as usual
    flags = "".join(letter for bit, letter in _FLAG_LETTERS if flag_byte & bit)
    return Seg(sport, dport, flags, seq, ack, len(tcp) - header)

"""Watch the loopback wire during a graded test (privileged tests only).

On ``lo`` every packet is seen twice, once outgoing and once incoming (this
is why scapy's default sniffer shows duplicates); we keep only the incoming
copy so each segment appears once.  No libpcap: the kernel filters with a
classic BPF program attached to the socket (the one ``tcpdump -dd "ip and
tcp port P"`` prints), so the queue holds only the test's own segments and
cannot overflow with other traffic on ``lo`` while a busy machine is slow to
read it.  Drops are still counted (PACKET_STATISTICS) and said.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from dataclasses import dataclass

PACKET_OUTGOING = 4  # linux/if_packet.h: the copy of a packet we sent
ETH_P_IP = 0x0800
QUIET = 0.3  # seconds without a packet, once the block has ended, before the capture stops
SO_ATTACH_FILTER = 26  # asm-generic/socket.h
SOL_PACKET, PACKET_STATISTICS = 263, 6  # linux/socket.h, linux/if_packet.h
BUFFER = 4 << 20  # SO_RCVBUF of the capture socket


def port_filter(port: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF for "ip and tcp port PORT" on an Ethernet frame: (code, jt, jf, k) per instruction.

    The program ``tcpdump -dd -y EN10MB "ip and tcp port PORT"`` prints.
    """
    return [
        (0x28, 0, 0, 12),        # ldh [12]            EtherType
        (0x15, 0, 10, 0x0800),   # jeq #IPv4 else drop
        (0x30, 0, 0, 23),        # ldb [23]            IP protocol
        (0x15, 0, 8, 6),         # jeq #TCP else drop
        (0x28, 0, 0, 20),        # ldh [20]            flags and fragment offset
        (0x45, 6, 0, 0x1FFF),    # jset #0x1fff: a later fragment has no TCP header: drop
        (0xB1, 0, 0, 14),        # ldxb 4*([14]&0xf)   X = IP header length
        (0x48, 0, 0, 14),        # ldh [x+14]          source port
        (0x15, 2, 0, port),      # jeq #port: accept
        (0x48, 0, 0, 16),        # ldh [x+16]          destination port
        (0x15, 0, 1, port),      # jeq #port: accept, else drop
        (0x06, 0, 0, 0x40000),   # accept: ret #262144 (the whole frame)
        (0x06, 0, 0, 0),         # drop: ret #0
    ]


def attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> ctypes.Array:
    """Attach a classic BPF PROGRAM to SOCK; return the buffer, which must live as long as the call."""
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(program), ctypes.addressof(code)))
    return code


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
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        attach_filter(self._sock, port_filter(self.port))  # before bind: nothing else is ever queued
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
        _, self.dropped = struct.unpack("II", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self._sock.close()

    dropped = 0  # packets the kernel could not queue for us (the socket's buffer was full)

    def describe(self) -> str:
        lines = [f"    {seg}" for seg in self.segments] or ["    (no segments at all)"]
        if self.dropped:
            lines.append(f"    (and {self.dropped} packets the capture socket dropped: its buffer was full)")
        return "\n".join(lines)


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

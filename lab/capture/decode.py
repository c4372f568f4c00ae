"""Decode one captured frame into the IP and TCP/UDP fields the lab needs.

Pure code over bytes: no sockets, no scapy.  Whatever the link layer was
(Ethernet from ``lo``, Linux cooked capture from ``tcpdump -i any``, raw IP,
BSD/macOS DLT_NULL), the annotator only ever sees a :class:`Segment`, built
from the IP and TCP (or UDP) headers.

Lengths come from the IP header, never from the number of captured bytes:
a capture taken with a short snaplen (``tcpdump -s 96``) keeps only the
first bytes of each frame, yet ``Segment.length`` is the real payload size,
as ``tcp.len`` is in tshark.  ``Segment.payload`` holds the bytes that were
captured (``Segment.truncated`` says when some are missing).

Parsing by hand with ``struct`` rather than with a scapy dissection: the
live sniffer decodes every packet as it arrives (measured, on the lossy
fixture: 6 µs a frame here against 26 µs for scapy's ``Ether(data)``).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

# Link-layer header types (www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0          # BSD loopback: 4-byte address family, host byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101         # raw IPv4/IPv6, no link header
LINKTYPE_LOOP = 108        # OpenBSD loopback: 4-byte address family, network order
LINKTYPE_LINUX_SLL = 113   # Linux cooked capture v1 (tcpdump -i any, before libpcap 1.10)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2 (tcpdump -i any, libpcap >= 1.10)
# DLT_RAW had other numbers on some BSDs before LINKTYPE_RAW existed.
_RAW_ALIASES = {LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6}

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
_VLAN_TYPES = {0x8100, 0x88A8, 0x9100}

# TCP flag bits, in the order of the TCP header (low bit first).
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = (1 << i for i in range(8))

# Letters for TCP flags, in the order used everywhere in the lab (see
# docs/CAPTURE.md): the handshake and close flags first, then the rest.
FLAG_LETTERS = (("S", SYN), ("A", ACK), ("F", FIN), ("R", RST), ("P", PSH), ("U", URG), ("E", ECE), ("C", CWR))

# TCP option kinds (IANA "TCP Option Kind Numbers").
OPT_END, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_PERM, OPT_SACK, OPT_TIMESTAMP = 0, 1, 2, 3, 4, 5, 8


def flag_letters(flags: int) -> str:
    """TCP flags as letters in the lab's fixed order SAFRPUEC (e.g. SYN+ACK -> "SA")."""
    return "".join(letter for letter, bit in FLAG_LETTERS if flags & bit)


@dataclass(frozen=True)
class Segment:
    """The fields of one TCP segment or UDP datagram, from its IP and transport headers."""

    number: int            # frame number in the capture, from 1 (as Wireshark counts)
    ts_ns: int             # capture time, nanoseconds since the epoch
    proto: str             # "tcp" or "udp"
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes = b""   # the payload bytes that were captured (maybe fewer than ``length``)
    seq: int = 0           # TCP only: raw 32-bit numbers as on the wire
    ack: int = 0
    flags: int = 0
    window: int = 0        # the 16-bit field, not scaled
    wscale: int | None = None   # window scale option: the shift as sent (SYN only), None if absent
    mss: int | None = None      # MSS option (SYN only), None if absent
    options: tuple[str, ...] = field(default=())   # option names in header order, e.g. ("MSS=1460", "SACK_PERM")
    sack_perm: bool = False     # the SACK-permitted option is present
    timestamps: tuple[int, int] | None = None      # (TSval, TSecr) of the timestamps option
    sack: tuple[tuple[int, int], ...] = field(default=())  # SACK blocks: raw (left edge, right edge)
    data_length: int | None = None   # payload length from the IP header; None: len(payload)

    @property
    def time(self) -> float:
        """Capture time in seconds since the epoch."""
        return self.ts_ns / 1e9

    @property
    def length(self) -> int:
        """Payload length in bytes (TCP segment data or UDP datagram data), from the IP header."""
        return len(self.payload) if self.data_length is None else self.data_length

    @property
    def truncated(self) -> bool:
        """True when the capture kept fewer payload bytes than the packet carried (short snaplen)."""
        return len(self.payload) < self.length


def strip_link_layer(linktype: int, data: bytes) -> tuple[int, bytes] | None:
    """Strip the link-layer header of a frame: (ethertype of what follows, IP packet), or None.

    For link layers without an ethertype (raw IP, DLT_NULL) the ethertype is
    derived from the IP version or the address family.
    """
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None
        offset, ethertype = 14, struct.unpack_from("!H", data, 12)[0]
        while ethertype in _VLAN_TYPES and len(data) >= offset + 4:
            ethertype = struct.unpack_from("!H", data, offset + 2)[0]
            offset += 4
        return ethertype, data[offset:]
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return None
        return struct.unpack_from("!H", data, 14)[0], data[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return None
        return struct.unpack_from("!H", data, 0)[0], data[20:]
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return None
        # DLT_NULL stores the address family in the byte order of the
        # machine that captured; guess by which order gives a small number.
        family = struct.unpack_from("<I" if linktype == LINKTYPE_NULL else "!I", data, 0)[0]
        if family > 0xFFFF:
            family = struct.unpack_from(">I", data, 0)[0]
        if family == 2:
            return ETH_P_IP, data[4:]
        if family in (10, 24, 28, 30):  # AF_INET6 on Linux, BSDs, macOS
            return ETH_P_IPV6, data[4:]
        return None
    if linktype in _RAW_ALIASES:
        if not data:
            return None
        version = data[0] >> 4
        return (ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0), data
    return None


@dataclass(frozen=True)
class TcpOptions:
    """The TCP options the lab explains, parsed from the option bytes of one header."""

    names: tuple[str, ...] = ()
    mss: int | None = None
    wscale: int | None = None
    sack_perm: bool = False
    timestamps: tuple[int, int] | None = None
    sack: tuple[tuple[int, int], ...] = ()


def parse_tcp_options(data: bytes) -> TcpOptions:
    """Parse TCP option bytes (RFC 9293 section 3.2): MSS, window scale, SACK, timestamps.

    A malformed option ends the parse (what was read before it is kept),
    like tshark, which stops at a bad length.
    """
    mss = wscale = timestamps = None
    sack_perm = False
    sack: list[tuple[int, int]] = []
    names: list[str] = []
    i = 0
    while i < len(data):
        kind = data[i]
        if kind == OPT_END:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= len(data) or data[i + 1] < 2:
            break
        size = data[i + 1]
        body = data[i + 2:i + size]
        if len(body) < size - 2:
            break  # cut by the snaplen
        if kind == OPT_MSS and len(body) == 2:
            mss = struct.unpack("!H", body)[0]
            names.append(f"MSS={mss}")
        elif kind == OPT_WSCALE and len(body) == 1:
            wscale = body[0]
            names.append(f"WS={1 << min(wscale, 14)}")
        elif kind == OPT_SACK_PERM:
            sack_perm = True
            names.append("SACK_PERM")
        elif kind == OPT_SACK:
            sack = [struct.unpack_from("!II", body, off) for off in range(0, len(body) - 7, 8)]
            names.append("SACK")
        elif kind == OPT_TIMESTAMP and len(body) == 8:
            timestamps = struct.unpack("!II", body)
            names.append("TS")
        else:
            names.append(f"opt{kind}")
        i += size
    return TcpOptions(tuple(names), mss, wscale, sack_perm, timestamps, tuple(tuple(b) for b in sack))


def decode(number: int, ts_ns: int, linktype: int, data: bytes) -> Segment | None:
    """Decode one frame; None when it is not TCP or UDP over IPv4/IPv6 (ARP, ICMP, ...)."""
    link = strip_link_layer(linktype, data)
    if link is None:
        return None
    ethertype, ip = link
    if ethertype == ETH_P_IP and len(ip) >= 20 and ip[0] >> 4 == 4:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        frag = struct.unpack_from("!H", ip, 6)[0]
        if frag & 0x1FFF:  # a non-first fragment has no transport header
            return None
        proto = ip[9]
        src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
        # The IP total length, not the frame length: Ethernet pads short
        # frames, and a short snaplen cuts long ones.  (0 with TSO: use what we have.)
        transport_length = total - ihl if total >= ihl else len(ip) - ihl
        transport = ip[ihl:ihl + transport_length]
    elif ethertype == ETH_P_IPV6 and len(ip) >= 40 and ip[0] >> 4 == 6:
        transport_length = struct.unpack_from("!H", ip, 4)[0]
        proto = ip[6]
        src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
        transport = ip[40:40 + transport_length]
        # Skip the common extension headers (hop-by-hop, routing, destination).
        while proto in (0, 43, 60) and len(transport) >= 8:
            proto, size = transport[0], (transport[1] + 1) * 8
            transport = transport[size:]
            transport_length -= size
    else:
        return None
    if proto == 6 and len(transport) >= 20:
        sport, dport, seq, ack, off_flags, window = struct.unpack_from("!HHIIHH", transport, 0)
        header = (off_flags >> 12) * 4
        opts = parse_tcp_options(transport[20:header])
        return Segment(number, ts_ns, "tcp", src, dst, sport, dport, bytes(transport[header:]),
                       seq, ack, off_flags & 0xFF, window, opts.wscale, opts.mss, opts.names,
                       opts.sack_perm, opts.timestamps, opts.sack, max(0, transport_length - header))
    if proto == 17 and len(transport) >= 8:
        sport, dport, ulen = struct.unpack_from("!HHH", transport, 0)
        return Segment(number, ts_ns, "udp", src, dst, sport, dport, bytes(transport[8:max(ulen, 8)]),
                       data_length=max(0, ulen - 8))
    return None

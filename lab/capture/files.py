"""Read and write capture files: classic pcap (micro- or nanosecond) and pcapng.

Pure Python over bytes, so a saved capture can be analysed on a laptop that
has neither libpcap nor capture permission.  Reading keeps each frame's
link-layer type (pcapng files may mix interfaces), so Ethernet from ``lo``,
Linux cooked captures from ``tcpdump -i any`` (SLL and SLL2), raw IP and
DLT_NULL from macOS all work; :mod:`lab.capture.decode` strips the link layer.
Writing produces classic nanosecond pcap, which tcpdump, tshark and
Wireshark all open.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from lab.capture.decode import LINKTYPE_RAW, Segment, _link_payload, decode

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = 0x1A2B3C4D


class CaptureFileError(ValueError):
    """The file is not a pcap or pcapng capture (or is damaged)."""


@dataclass(frozen=True)
class RawFrame:
    """One captured frame as it came off the wire, with its link-layer type."""

    ts_ns: int
    linktype: int
    data: bytes
    wirelen: int = 0


def _read_pcap(blob: bytes) -> list[RawFrame]:
    magic_le = struct.unpack_from("<I", blob, 0)[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        endian = "<"
    else:
        endian = ">"
    magic = struct.unpack_from(endian + "I", blob, 0)[0]
    scale = 1 if magic == PCAP_MAGIC_NS else 1000
    linktype = struct.unpack_from(endian + "I", blob, 20)[0] & 0x0FFFFFFF
    frames, offset = [], 24
    while offset + 16 <= len(blob):
        sec, frac, caplen, wirelen = struct.unpack_from(endian + "IIII", blob, offset)
        offset += 16
        if offset + caplen > len(blob):
            break  # a truncated last record: keep what is complete
        frames.append(RawFrame(sec * 1_000_000_000 + frac * scale, linktype, blob[offset:offset + caplen], wirelen))
        offset += caplen
    return frames


def _tsresol_ns(option: bytes) -> tuple[int, int]:
    """(multiplier, divisor) turning pcapng timestamp units into nanoseconds."""
    value = option[0]
    if value & 0x80:  # a power of two
        return 1_000_000_000, 1 << (value & 0x7F)
    units = 10 ** (value & 0x7F)
    if units <= 1_000_000_000:
        return 1_000_000_000 // units, 1
    return 1, units // 1_000_000_000


def _read_pcapng(blob: bytes) -> list[RawFrame]:
    frames: list[RawFrame] = []
    endian = "<"
    interfaces: list[tuple[int, int, int]] = []  # (linktype, mul, div)
    offset = 0
    while offset + 12 <= len(blob):
        block_type = struct.unpack_from(endian + "I", blob, offset)[0]
        if block_type == PCAPNG_SHB:
            order = struct.unpack_from("<I", blob, offset + 8)[0]
            endian = "<" if order == PCAPNG_BYTE_ORDER else ">"
            interfaces = []  # a new section starts a new list of interfaces
        length = struct.unpack_from(endian + "I", blob, offset + 4)[0]
        if length < 12 or offset + length > len(blob):
            break
        body = blob[offset + 8:offset + length - 4]
        if block_type == 1:  # Interface Description Block
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            mul, div = 1000, 1  # default resolution: microseconds
            opt = 8
            while opt + 4 <= len(body):
                code, size = struct.unpack_from(endian + "HH", body, opt)
                if code == 0:
                    break
                if code == 9 and size >= 1:  # if_tsresol
                    mul, div = _tsresol_ns(body[opt + 4:opt + 5])
                opt += 4 + ((size + 3) & ~3)
            interfaces.append((linktype, mul, div))
        elif block_type in (6, 2):  # Enhanced Packet Block, obsolete Packet Block
            if block_type == 6:
                iface, high, low, caplen, wirelen = struct.unpack_from(endian + "IIIII", body, 0)
            else:
                iface, _drops, high, low, caplen, wirelen = struct.unpack_from(endian + "HHIIII", body, 0)
            if iface < len(interfaces):
                linktype, mul, div = interfaces[iface]
                units = (high << 32) | low
                frames.append(RawFrame(units * mul // div, linktype, body[20:20 + caplen], wirelen))
        elif block_type == 3 and interfaces:  # Simple Packet Block: no timestamp
            wirelen = struct.unpack_from(endian + "I", body, 0)[0]
            frames.append(RawFrame(0, interfaces[0][0], body[4:4 + wirelen], wirelen))
        offset += length
    return frames


def read_frames(path: str | Path) -> list[RawFrame]:
    """Every frame of a pcap or pcapng file, with its link-layer type and time.

    Raises CaptureFileError if the file is neither format.
    """
    blob = Path(path).read_bytes()
    if len(blob) < 24 and not blob.startswith(struct.pack("<I", PCAPNG_SHB)):
        raise CaptureFileError(f"{path}: too short to be a capture file")
    magic = struct.unpack_from("<I", blob, 0)[0]
    if magic == PCAPNG_SHB:
        return _read_pcapng(blob)
    if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or struct.unpack_from(">I", blob, 0)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        return _read_pcap(blob)
    raise CaptureFileError(f"{path}: not a pcap or pcapng file (magic {magic:#010x})")


def segments_from_frames(frames: list[RawFrame]) -> list[Segment]:
    """Decode frames into TCP/UDP segments; frame numbers count every frame from 1."""
    out = []
    for number, frame in enumerate(frames, 1):
        segment = decode(number, frame.ts_ns, frame.linktype, frame.data)
        if segment is not None:
            out.append(segment)
    return out


def read_pcap(path: str | Path) -> list[Segment]:
    """The TCP and UDP segments of a pcap or pcapng file (any link layer)."""
    return segments_from_frames(read_frames(path))


def write_pcap(path: str | Path, frames: list[RawFrame], snaplen: int = 262144) -> None:
    """Write frames as a classic nanosecond pcap that tcpdump/tshark/Wireshark open.

    A pcap file has a single link-layer type; if the frames mix several, the
    link headers are stripped and the file is written as raw IP.
    """
    linktypes = {f.linktype for f in frames}
    linktype = linktypes.pop() if len(linktypes) == 1 else LINKTYPE_RAW
    parts = [struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, snaplen, linktype)]
    for frame in frames:
        data = frame.data
        if frame.linktype != linktype:
            link = _link_payload(frame.linktype, data)
            if link is None:
                continue
            data = link[1]
        sec, nsec = divmod(frame.ts_ns, 1_000_000_000)
        parts.append(struct.pack("<IIII", sec, nsec, len(data), max(frame.wirelen, len(data))))
        parts.append(data)
    Path(path).write_bytes(b"".join(parts))

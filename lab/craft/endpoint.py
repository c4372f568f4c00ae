"""Hand-made segments on the wire: scapy builds them, a raw socket in a namespace sends them.

The thin I/O part of lab/craft.  :class:`RawEndpoint` lives in one host of
the emulated network (lab.net.netlab):

* **sending**: scapy builds ``IP(src, dst) / TCP(...) / Raw(data)`` (and
  computes both checksums); a raw IP socket (``IPPROTO_RAW``) opened inside
  the host's namespace hands the bytes to that host's kernel, which routes
  them and finds the next hop's MAC address, as for any packet.  The source
  address is always given: scapy would otherwise look it up in the routing
  table of the namespace this Python started in, not the host's;
* **receiving**: lab.capture's Sniffer on the host's interface, opened
  before the first segment is sent (so no answer can be missed), with its
  own bounded queue.  Every wait has a deadline.

Nothing here decides what to send: that is lab/craft/tcb.py (the
handshake), lab/craft/forge.py (resets) or the experiment's script.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from lab.capture.decode import Segment
from lab.craft.tcb import Outgoing, Seen
from lab.net.netlab import inside_namespace

DEFAULT_WINDOW = 65535  # our SYN has no window-scale option: the 16-bit field is the whole window


def build_packet(src: tuple[str, int], dst: tuple[str, int], out: Outgoing, window: int = DEFAULT_WINDOW):
    """The scapy packet for ``out`` from ``src`` to ``dst`` (checksums computed when it is turned into bytes)."""
    from scapy.layers.inet import IP, TCP
    from scapy.packet import Raw

    packet = IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=out.flags, seq=out.seq,
                                              ack=out.ack, window=window)
    if out.payload:
        packet = packet / Raw(out.payload)
    return packet


def scapy_expression(src: tuple[str, int], dst: tuple[str, int], out: Outgoing) -> str:
    """How the packet is written in scapy, for a student to read (and type)."""
    text = (f'IP(src="{src[0]}", dst="{dst[0]}") / TCP(sport={src[1]}, dport={dst[1]}, '
            f'flags="{out.flags}", seq={out.seq}, ack={out.ack})')
    if out.payload:
        text += f" / Raw({out.payload!r})"
    return text


@dataclass
class RawEndpoint:
    """Send segments from ``host`` as ``local``, and receive what ``remote`` sends to it.

    ``send_as`` (default ``local``) may be another address: the forged RSTs
    of lab/craft/forge.py pretend to come from a member of the chat.  Use it
    as a context manager, or call ``open()`` and ``close()``.
    """

    net: object  # lab.net.netlab.Netlab
    host: str
    local: tuple[str, int]
    remote: tuple[str, int]
    iface: str = "eth0"
    capture_port: int | None = None  # the port the sniffer keeps (default: local's)
    sent: list = field(default_factory=list)   # (time, scapy packet) of everything sent
    _raw: socket.socket | None = None
    _sniffer: object = None
    _unread: list = field(default_factory=list)

    def open(self) -> "RawEndpoint":
        """Open the capture, then the raw socket, both inside the host's namespace."""
        from lab.capture.sniffer import Sniffer

        netns = self.net.netns(self.host)
        self._sniffer = Sniffer(iface=self.iface, port=self.capture_port or self.local[1], netns=netns).start()
        try:
            with inside_namespace(netns):
                self._raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        except BaseException:
            self._sniffer.stop()
            raise
        return self

    def close(self) -> None:
        """Stop the capture and close the raw socket (idempotent)."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._sniffer is not None and self._sniffer.running:
            self._sniffer.stop()

    def __enter__(self) -> "RawEndpoint":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, out: Outgoing, send_as: tuple[str, int] | None = None, to: tuple[str, int] | None = None):
        """Build ``out`` with scapy and send it; returns the scapy packet."""
        packet = build_packet(send_as or self.local, to or self.remote, out)
        self._raw.sendto(bytes(packet), (packet.dst, 0))
        self.sent.append((time.time(), packet))
        return packet

    @property
    def segments(self) -> list[Segment]:
        """Every segment the capture saw so far, both directions (lab.capture Segments)."""
        self._poll()
        return list(self._sniffer.segments)

    def settle(self, quiet: float = 0.2, limit: float = 3.0) -> int:
        """Wait until the capture saw nothing new for ``quiet`` s (at most ``limit`` s); the segment count.

        The capture thread lags the wire by a little: read numbers off it
        only once it is quiet, or they may be a segment old.
        """
        deadline = time.monotonic() + limit
        count, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = len(self.segments)
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.02)
        return count

    def _poll(self) -> None:
        self._unread.extend(self._sniffer.poll())

    def _from_remote(self, seg: Segment) -> bool:
        return (seg.src, seg.sport) == self.remote and (seg.dst, seg.dport) == self.local

    def receive(self, timeout: float, match: Callable[[Segment], bool] | None = None,
                source: Callable[[Segment], bool] | None = None) -> Segment | None:
        """The next segment from ``remote`` to ``local`` (that ``match`` accepts), or None after ``timeout`` s.

        Segments before it that ``match`` refused are dropped; ``source``
        replaces the remote-to-local test (e.g. to watch what the host's own
        kernel sends).
        """
        wanted = source or self._from_remote
        deadline = time.monotonic() + timeout
        while True:
            self._poll()
            while self._unread:
                seg = self._unread.pop(0)
                if wanted(seg) and (match is None or match(seg)):
                    return seg
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def receive_seen(self, timeout: float, match: Callable[[Segment], bool] | None = None) -> Seen | None:
        """Like receive(), as the TCB's :class:`~lab.craft.tcb.Seen`."""
        seg = self.receive(timeout, match)
        return None if seg is None else Seen.of(seg)

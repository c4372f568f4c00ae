"""TCP_INFO: what the Linux kernel knows about one TCP connection, once or every few ms.

``getsockopt(IPPROTO_TCP, TCP_INFO)`` returns ``struct tcp_info`` from
``<linux/tcp.h>``: the connection's state, its timers (RTO), the RTT
estimate (SRTT, RTTVAR), the congestion window and slow-start threshold,
the counters of segments, bytes and retransmissions.  The kernel copies as
much of the structure as it has and the caller asked for, so a field that
an older kernel does not know comes back as ``None`` here.  On other
systems :func:`read_tcp_info` returns None and the kit simply shows less.

:data:`LAYOUT` lists the fields in the order and with the sizes of the C
structure; tests/net/test_tcpinfo.py checks every offset against the
kernel header (with the C compiler's ``offsetof``, where one is installed).

:class:`TcpInfoSampler` reads TCP_INFO every few milliseconds from a
thread, stamping each sample with ``time.time_ns()``, the clock packet
captures use, so that cwnd, ssthresh, SRTT and RTO plot on a capture's time
axis (lab.capture.graphs.tcpinfo)::

    with TcpInfoSampler(sock, interval=0.005) as sampler:
        sock.sendall(data)
    sampler.samples    # [TcpInfoSample(ts_ns, TcpInfo), ...]
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, fields

# The TCP states, numbered as in the kernel's include/net/tcp_states.h.
TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}
# The congestion-avoidance states (enum tcp_ca_state in <linux/tcp.h>).
CA_STATES = {0: "Open", 1: "Disorder", 2: "CWR", 3: "Recovery", 4: "Loss"}
INFINITE_SSTHRESH = 0x7FFFFFFF   # TCP_INFINITE_SSTHRESH: no loss yet, slow start has no ceiling

# struct tcp_info, field by field: (name without the tcpi_ prefix, struct format).
# "B" is __u8, "I" __u32, "Q" __u64; the C structure has no padding (every
# field is naturally aligned), so "=" (standard sizes, no alignment) gives
# the same offsets.  snd_wscale/rcv_wscale share one byte (two 4-bit fields).
LAYOUT = (
    ("state", "B"), ("ca_state", "B"), ("retransmits", "B"), ("probes", "B"), ("backoff", "B"),
    ("options", "B"), ("wscale", "B"), ("app_limited", "B"),
    ("rto", "I"), ("ato", "I"), ("snd_mss", "I"), ("rcv_mss", "I"),
    ("unacked", "I"), ("sacked", "I"), ("lost", "I"), ("retrans", "I"), ("fackets", "I"),
    ("last_data_sent", "I"), ("last_ack_sent", "I"), ("last_data_recv", "I"), ("last_ack_recv", "I"),
    ("pmtu", "I"), ("rcv_ssthresh", "I"), ("rtt", "I"), ("rttvar", "I"), ("snd_ssthresh", "I"),
    ("snd_cwnd", "I"), ("advmss", "I"), ("reordering", "I"),
    ("rcv_rtt", "I"), ("rcv_space", "I"),
    ("total_retrans", "I"),
    ("pacing_rate", "Q"), ("max_pacing_rate", "Q"), ("bytes_acked", "Q"), ("bytes_received", "Q"),
    ("segs_out", "I"), ("segs_in", "I"),
    ("notsent_bytes", "I"), ("min_rtt", "I"), ("data_segs_in", "I"), ("data_segs_out", "I"),
    ("delivery_rate", "Q"),
    ("busy_time", "Q"), ("rwnd_limited", "Q"), ("sndbuf_limited", "Q"),
    ("delivered", "I"), ("delivered_ce", "I"),
    ("bytes_sent", "Q"), ("bytes_retrans", "Q"), ("dsack_dups", "I"), ("reord_seen", "I"),
    ("rcv_ooopack", "I"),
    ("snd_wnd", "I"), ("rcv_wnd", "I"),
)


def _offsets() -> dict[str, tuple[int, struct.Struct]]:
    out, offset = {}, 0
    for name, fmt in LAYOUT:
        packed = struct.Struct("=" + fmt)
        out[name] = (offset, packed)
        offset += packed.size
    return out


OFFSETS = _offsets()
"""name -> (byte offset in struct tcp_info, struct.Struct of the field)."""
SIZE = sum(packed.size for _, packed in OFFSETS.values())
MINIMUM = OFFSETS["total_retrans"][0] + 4   # every Linux since 2.6 fills in this much


@dataclass(frozen=True)
class TcpInfo:
    """One reading of TCP_INFO.  Times in milliseconds, windows in segments (cwnd) or bytes.

    Fields after ``total_retrans`` are None on kernels too old to fill them.
    """

    state: str
    rtt_ms: float           # smoothed round-trip time (SRTT)
    rttvar_ms: float        # its mean deviation (RTTVAR)
    rto_ms: float           # retransmission timeout
    retransmits: int        # retransmissions of the segment now outstanding (timeouts in a row)
    total_retrans: int      # every segment retransmitted over the connection's life
    lost: int               # segments now considered lost
    unacked: int            # segments sent and not yet acknowledged
    snd_cwnd: int           # congestion window, in segments
    snd_mss: int
    rcv_space: int
    ca_state: str = "Open"  # Open, Disorder, CWR, Recovery (fast recovery), Loss (after a timeout)
    probes: int = 0         # zero-window or keepalive probes sent without answer
    backoff: int = 0        # how many times the RTO was doubled
    snd_wscale: int = 0
    rcv_wscale: int = 0
    ato_ms: float = 0.0     # delayed-ACK timeout
    rcv_mss: int = 0
    sacked: int = 0
    retrans: int = 0        # segments retransmitted and not yet acknowledged
    pmtu: int = 0
    rcv_ssthresh: int = 0
    snd_ssthresh: int = INFINITE_SSTHRESH   # slow-start threshold, in segments
    advmss: int = 0
    reordering: int = 0
    min_rtt_ms: float | None = None
    bytes_acked: int | None = None
    bytes_received: int | None = None
    bytes_sent: int | None = None
    bytes_retrans: int | None = None
    segs_out: int | None = None
    segs_in: int | None = None
    data_segs_out: int | None = None
    data_segs_in: int | None = None
    delivery_rate: int | None = None   # bytes per second
    pacing_rate: int | None = None
    notsent_bytes: int | None = None
    dsack_dups: int | None = None
    reord_seen: int | None = None
    snd_wnd: int | None = None         # the peer's receive window, scaled, in bytes
    rcv_wnd: int | None = None         # our advertised receive window, in bytes

    @property
    def ssthresh(self) -> int | None:
        """The slow-start threshold in segments; None while it is still "infinite" (no loss yet)."""
        return None if self.snd_ssthresh >= INFINITE_SSTHRESH else self.snd_ssthresh

    def to_dict(self) -> dict:
        """Every field, as a plain dict (for JSON and the lifecycle log)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_tcp_info(raw: bytes) -> TcpInfo | None:
    """Decode the bytes getsockopt(TCP_INFO) returned; None if they are shorter than every kernel's minimum."""
    if len(raw) < MINIMUM:
        return None
    v = {}
    for name, (offset, packed) in OFFSETS.items():
        v[name] = packed.unpack_from(raw, offset)[0] if offset + packed.size <= len(raw) else None
    us = 1000.0
    return TcpInfo(
        state=TCP_STATES.get(v["state"], str(v["state"])),
        rtt_ms=v["rtt"] / us, rttvar_ms=v["rttvar"] / us, rto_ms=v["rto"] / us,
        retransmits=v["retransmits"], total_retrans=v["total_retrans"], lost=v["lost"], unacked=v["unacked"],
        snd_cwnd=v["snd_cwnd"], snd_mss=v["snd_mss"], rcv_space=v["rcv_space"],
        ca_state=CA_STATES.get(v["ca_state"], str(v["ca_state"])), probes=v["probes"], backoff=v["backoff"],
        snd_wscale=v["wscale"] & 0x0F, rcv_wscale=v["wscale"] >> 4, ato_ms=v["ato"] / us, rcv_mss=v["rcv_mss"],
        sacked=v["sacked"], retrans=v["retrans"], pmtu=v["pmtu"], rcv_ssthresh=v["rcv_ssthresh"],
        snd_ssthresh=v["snd_ssthresh"], advmss=v["advmss"], reordering=v["reordering"],
        min_rtt_ms=None if v["min_rtt"] is None else v["min_rtt"] / us,
        bytes_acked=v["bytes_acked"], bytes_received=v["bytes_received"], bytes_sent=v["bytes_sent"],
        bytes_retrans=v["bytes_retrans"], segs_out=v["segs_out"], segs_in=v["segs_in"],
        data_segs_out=v["data_segs_out"], data_segs_in=v["data_segs_in"], delivery_rate=v["delivery_rate"],
        pacing_rate=v["pacing_rate"], notsent_bytes=v["notsent_bytes"], dsack_dups=v["dsack_dups"],
        reord_seen=v["reord_seen"], snd_wnd=v["snd_wnd"], rcv_wnd=v["rcv_wnd"],
    )


def read_tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's view of ``sock``'s connection, or None where unavailable (or the socket is closed)."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, SIZE)
    except OSError:
        return None
    return parse_tcp_info(raw)


@dataclass(frozen=True)
class TcpInfoSample:
    """One reading, with the time it was taken (ns since the epoch, the clock of packet captures)."""

    ts_ns: int
    info: TcpInfo

    @property
    def time(self) -> float:
        """Seconds since the epoch."""
        return self.ts_ns / 1e9


class TcpInfoSampler:
    """Read TCP_INFO of one socket every ``interval`` seconds, in a background thread.

    Bounded: at most ``limit`` samples; sampling also stops by itself when
    the socket is closed (TCP_INFO can no longer be read).  ``start()``
    returns after the first sample was taken, so nothing the caller does
    next happens before sampling has begun.
    """

    def __init__(self, sock: socket.socket, interval: float = 0.005, limit: int = 200_000):
        self.sock, self.interval, self.limit = sock, interval, limit
        self.samples: list[TcpInfoSample] = []
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> bool:
        info = read_tcp_info(self.sock)
        if info is None:
            return False
        self.samples.append(TcpInfoSample(time.time_ns(), info))
        return len(self.samples) < self.limit

    def _run(self) -> None:
        try:
            going = self._sample()
            self._first.set()
            while going and not self._stop.wait(self.interval):
                going = self._sample()
        finally:
            self._first.set()

    def start(self) -> "TcpInfoSampler":
        """Start sampling; returns once the first sample is taken (or TCP_INFO proved unreadable)."""
        self._thread = threading.Thread(target=self._run, name="tcp-info-sampler", daemon=True)
        self._thread.start()
        self._first.wait(5.0)
        return self

    def stop(self) -> list[TcpInfoSample]:
        """Take one last sample, stop the thread, and return the samples."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(5.0)
            if len(self.samples) < self.limit:
                self._sample()
        return self.samples

    def __enter__(self) -> "TcpInfoSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

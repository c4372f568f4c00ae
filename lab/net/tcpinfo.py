"""TCP_INFO: what the Linux kernel knows about one TCP connection.

``getsockopt(IPPROTO_TCP, TCP_INFO)`` returns ``struct tcp_info`` from
``<linux/tcp.h>``.  We read the stable prefix that every kernel since 2.6
fills in: 8 one-byte fields, then 24 unsigned 32-bit fields.  On other
systems ``read_tcp_info`` returns None and the kit simply shows less.
"""

from __future__ import annotations

import socket
import struct
import sys
from dataclasses import asdict, dataclass

# The TCP states, numbered as in the kernel's include/net/tcp_states.h.
TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}

_LAYOUT = struct.Struct("8B24I")  # tcpi_state .. tcpi_total_retrans


@dataclass(frozen=True)
class TcpInfo:
    state: str
    rtt_ms: float  # smoothed round-trip time
    rttvar_ms: float
    rto_ms: float  # retransmission timeout
    retransmits: int  # retransmissions of the segment now outstanding
    total_retrans: int  # every retransmission over the connection's life
    lost: int
    unacked: int
    snd_cwnd: int  # congestion window, in segments
    snd_mss: int
    rcv_space: int

    def to_dict(self) -> dict:
        return asdict(self)


def read_tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's view of ``sock``'s connection, or None where unavailable."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _LAYOUT.size)
    except OSError:
        return None
    if len(raw) < _LAYOUT.size:
        return None
    f = _LAYOUT.unpack(raw[: _LAYOUT.size])
    state, retransmits = f[0], f[2]
    (rto, _ato, snd_mss, _rcv_mss, unacked, _sacked, lost, _retrans, _fackets,
     _lds, _las, _ldr, _lar, _pmtu, _rcv_ssthresh, rtt, rttvar, _snd_ssthresh,
     snd_cwnd, _advmss, _reordering, _rcv_rtt, rcv_space, total_retrans) = f[8:]
    return TcpInfo(
        state=TCP_STATES.get(state, str(state)),
        rtt_ms=rtt / 1000,
        rttvar_ms=rttvar / 1000,
        rto_ms=rto / 1000,
        retransmits=retransmits,
        total_retrans=total_retrans,
        lost=lost,
        unacked=unacked,
        snd_cwnd=snd_cwnd,
        snd_mss=snd_mss,
        rcv_space=rcv_space,
    )

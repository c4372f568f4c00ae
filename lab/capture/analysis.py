"""Wireshark's TCP analysis, rule for rule, as the installed tshark 4.0.17 applies it.

Pure code (no sockets, no scapy): :class:`Analyzer` takes
:class:`~lab.capture.decode.Segment` objects in capture order and returns
one :class:`PacketAnalysis` per packet, with the values tshark shows for
the same packet under the same field names:

==========================  ====================================================
``PacketAnalysis``          tshark field
==========================  ====================================================
``stream``                  ``tcp.stream`` (``udp.stream`` for UDP)
``seq``, ``ack``, ``nextseq``  ``tcp.seq``, ``tcp.ack``, ``tcp.nxtseq`` (relative)
``flags``                   every ``tcp.analysis.*`` flag set on the packet
``window_size``             ``tcp.window_size`` (scaled when the scale is known)
``window_size_scalefactor`` ``tcp.window_size_scalefactor`` (-1 unknown, -2 none)
``ack_rtt``, ``acks_frame``  ``tcp.analysis.ack_rtt`` (s), ``tcp.analysis.acks_frame``
``bytes_in_flight``         ``tcp.analysis.bytes_in_flight``
``rto``, ``rto_frame``      ``tcp.analysis.rto`` (s), ``tcp.analysis.rto_frame``
``mss_val``                 ``tcp.options.mss_val``
``wscale_shift``            ``tcp.options.wscale.shift``
``sack_perm``               ``tcp.options.sack_perm`` present
``tsval``, ``tsecr``        ``tcp.options.timestamp.tsval`` / ``.tsecr``
``sack_le``, ``sack_re``    ``tcp.options.sack_le`` / ``sack_re`` (relative)
``dsack``                   ``tcp.options.sack.dsack_le`` / ``dsack_re``
==========================  ====================================================

API note for lessons and exercises (lesson 8, exercise 10 build on it)::

    from lab.capture import read_pcap
    from lab.capture.analysis import Analyzer
    analyzer = Analyzer()
    facts = [analyzer.feed(seg) for seg in read_pcap("bulk.pcap")]
    rtts = [(f.segment.time, f.ack_rtt) for f in facts if f.ack_rtt is not None]
    analyzer.streams[0].client, analyzer.streams[0].flows   # the connection and its two directions

The rules are those of ``tcp_analyze_sequence_number()`` and
``dissect_tcp()`` in Wireshark 4.0.17's ``epan/dissectors/packet-tcp.c``
(the version Debian 12 ships), including the details that differ from the
textbook and from other Wireshark versions: a spurious retransmission is
checked before a fast one; "ACKed unseen segment" is flagged once per gap
(and again only after an ACK from the other side); the window of a flow is
not scaled until that side has sent its first pure ACK when it checks
"window full"; bytes in flight count the captured unacknowledged segments
minus the SACK blocks (at most three) of the other side's last packet.
The test suite compares every value with tshark on every fixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.capture.decode import ACK, FIN, RST, SYN, Segment

MASK = 0xFFFFFFFF
UNKNOWN_SCALE = -1    # window scale not seen (capture started after the SYNs)
NO_SCALING = -2       # the SYNs show that window scaling is not used
MAX_UNACKED_SEGMENTS = 10_000   # TCP_MAX_UNACKED_SEGMENTS
SACK_BLOCKS_FOR_FLIGHT = 3      # MAX_TCP_SACK_RANGES - 1 blocks are kept for bytes in flight

# Analysis flag names are the suffixes of tshark's fields: "retransmission"
# is `tcp.analysis.retransmission`.  As in tshark, a fast or a spurious
# retransmission is also a retransmission.
ANALYSIS_ORDER = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "duplicate_ack", "lost_segment", "ack_lost_segment", "zero_window", "zero_window_probe",
    "zero_window_probe_ack", "window_full", "window_update", "keep_alive", "keep_alive_ack",
    "reused_ports",
)


def seq_gt(a: int, b: int) -> bool:
    """a > b in 32-bit sequence space (Wireshark's GT_SEQ, RFC 1982 serial arithmetic)."""
    return a != b and ((a - b) & MASK) < 0x80000000


def seq_lt(a: int, b: int) -> bool:
    """a < b in sequence space."""
    return seq_gt(b, a)


def seq_le(a: int, b: int) -> bool:
    """a <= b in sequence space."""
    return a == b or seq_lt(a, b)


@dataclass
class _Unacked:
    """One captured segment not yet acknowledged (tcp_unacked_t)."""

    frame: int
    seq: int
    nextseq: int
    ts_ns: int


@dataclass
class Flow:
    """One direction of a connection: Wireshark's tcp_flow_t and its analysis state, plus counters."""

    base_seq: int = 0
    base_set: bool = False
    isn: int | None = None          # the sequence number of this side's SYN, if captured
    win_scale: int = UNKNOWN_SCALE  # the shift, or UNKNOWN_SCALE / NO_SCALING
    window: int = MASK              # the last raw window (G_MAXUINT32 before the first segment)
    is_first_ack: bool = False
    valid_bif: bool = True
    nextseq: int = 0
    nextseqframe: int = 0
    nextseqtime: int = 0
    maxseqtobeacked: int = 0
    lastack: int = 0
    lastacktime: int = 0
    lastnondupack: int = 0
    dupacknum: int = 0
    lastsegmentflags: frozenset = frozenset()
    segments: list = field(default_factory=list)   # _Unacked, newest first (as Wireshark's list)
    sack_ranges: list = field(default_factory=list)   # this side's last SACK blocks kept for bytes in flight
    mss: int | None = None          # announced in this side's SYN
    sack_perm: bool = False         # this side's SYN offered SACK
    timestamps: bool = False        # this side's SYN carried timestamps
    fin: bool = False
    rst: bool = False
    bytes: int = 0                  # payload bytes sent, not counting retransmissions
    packets: int = 0
    retransmissions: int = 0


@dataclass
class Stream:
    """One TCP connection (or UDP conversation) and what happened on it."""

    index: int
    proto: str
    client: tuple[str, int]
    server: tuple[str, int]
    first_ns: int
    last_ns: int = 0
    ts_mru_syn: int = 0
    ts_first_rtt: int = 0
    flows: dict = field(default_factory=dict)     # (addr, port) of the sender -> Flow
    handshake: list = field(default_factory=list)  # frame numbers of SYN, SYN-ACK, ACK
    established: bool = False
    syn_seen: bool = False
    ended: str = "open"
    rst_from: str | None = None
    fin_from: list = field(default_factory=list)
    packets: int = 0

    def role(self, endpoint: tuple[str, int]) -> str:
        """"client" or "server"."""
        return "client" if endpoint == self.client else "server"

    @property
    def duration(self) -> float:
        """Seconds from the first to the last packet."""
        return max(0, self.last_ns - self.first_ns) / 1e9

    def summary(self) -> dict:
        """Addresses and ports (the 4-tuple; with the protocol, the key of a connection), ephemeral
        port, duration, bytes each way and how the connection ended."""
        c, s = self.flows.get(self.client, Flow()), self.flows.get(self.server, Flow())
        return {
            "stream": self.index, "proto": self.proto,
            "client": endpoint_text(self.client), "server": endpoint_text(self.server),
            "ephemeral_port": self.client[1], "duration": round(self.duration, 6),
            "packets": self.packets, "bytes_client_to_server": c.bytes, "bytes_server_to_client": s.bytes,
            "retransmissions": c.retransmissions + s.retransmissions,
            "handshake": "complete" if self.established else ("partial" if self.syn_seen else "not captured"),
            "ended": self.ended,
        }


def endpoint_text(endpoint: tuple[str, int]) -> str:
    """``host:port``, with brackets around an IPv6 address (``[::1]:5050``)."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class PacketAnalysis:
    """What Wireshark computes for one packet (see the module docstring for the field names)."""

    segment: Segment
    stream: int
    role: str                       # who sent it: "client" or "server"
    seq: int = 0
    ack: int = 0
    nextseq: int = 0
    flags: list = field(default_factory=list)
    window_size: int | None = None
    window_size_scalefactor: int | None = None   # None on SYNs (tshark prints none)
    ack_rtt: float | None = None
    acks_frame: int | None = None
    bytes_in_flight: int | None = None
    rto: float | None = None
    rto_frame: int | None = None
    mss_val: int | None = None
    wscale_shift: int | None = None
    sack_perm: bool = False
    tsval: int | None = None
    tsecr: int | None = None
    sack_le: list = field(default_factory=list)
    sack_re: list = field(default_factory=list)
    dsack: tuple[int, int] | None = None
    # connection events, for the explanations
    handshake_step: int | None = None   # 1 SYN, 2 SYN-ACK, 3 the ACK that completes the handshake
    refused: bool = False               # an RST answering a SYN: nothing listens on that port
    first_fin: bool = False             # a FIN, and the other side has not sent one
    acks_peer_fin: bool = False         # acknowledges the other side's FIN
    both_closed: bool = False           # both sides have sent FIN (after this packet)
    scale_unknown: bool = False         # window_size is the raw field: the SYNs were not captured

    @property
    def is_retransmission(self) -> bool:
        """tshark flags it as a retransmission (plain, fast or spurious)."""
        return "retransmission" in self.flags

    def to_dict(self) -> dict:
        """The values under tshark's short names (the `chatlab sniff --json` keys, JSON_KEYS)."""
        return {
            "window_size": self.window_size, "window_size_scalefactor": self.window_size_scalefactor,
            "ack_rtt": self.ack_rtt, "acks_frame": self.acks_frame, "bytes_in_flight": self.bytes_in_flight,
            "rto": self.rto, "rto_frame": self.rto_frame, "mss_val": self.mss_val,
            "wscale_shift": self.wscale_shift, "sack_perm": self.sack_perm, "tsval": self.tsval,
            "tsecr": self.tsecr, "sack_le": list(self.sack_le), "sack_re": list(self.sack_re),
            "dsack_le": self.dsack[0] if self.dsack else None, "dsack_re": self.dsack[1] if self.dsack else None,
        }


JSON_KEYS = ("window_size", "window_size_scalefactor", "ack_rtt", "acks_frame", "bytes_in_flight", "rto",
             "rto_frame", "mss_val", "wscale_shift", "sack_perm", "tsval", "tsecr", "sack_le", "sack_re",
             "dsack_le", "dsack_re")
"""The keys of PacketAnalysis.to_dict(): each the last part of the tshark field's name."""


class Analyzer:
    """Incremental analysis: feed segments in capture order, get PacketAnalysis back.

    Keeps per-connection state, so a live capture can be analysed packet by
    packet.  ``server_ports`` helps tell the client from the server when a
    capture starts after the SYNs.
    """

    def __init__(self, server_ports: set[int] | None = None):
        self.server_ports = set(server_ports or ())
        self.streams: list[Stream] = []
        # A conversation is keyed by protocol, addresses and ports: TCP and UDP on
        # the same numbers (the kit's TCP and UDP chats both use port 5050) are two.
        self._tcp: dict = {}
        self._udp: dict = {}
        self._tcp_count = 0
        self._udp_count = 0
        self._by_index: dict = {}

    # -- connections ---------------------------------------------------------------
    def _guess_roles(self, seg: Segment) -> tuple[tuple[str, int], tuple[str, int]]:
        src, dst = (seg.src, seg.sport), (seg.dst, seg.dport)
        if seg.proto == "tcp" and seg.flags & SYN:
            return (src, dst) if not seg.flags & ACK else (dst, src)
        if seg.sport in self.server_ports and seg.dport not in self.server_ports:
            return dst, src
        if seg.dport in self.server_ports:
            return src, dst
        if seg.proto == "udp":
            return src, dst  # the first datagram of a UDP chat comes from the client
        # TCP mid-stream with no hint: the lower port is usually the server's.
        return (src, dst) if seg.sport > seg.dport else (dst, src)

    def _new_stream(self, seg: Segment, table: dict, key) -> Stream:
        client, server = self._guess_roles(seg)
        if seg.proto == "tcp":
            index, self._tcp_count = self._tcp_count, self._tcp_count + 1
        else:
            index, self._udp_count = self._udp_count, self._udp_count + 1
        stream = Stream(index, seg.proto, client, server, seg.ts_ns)
        stream.flows = {client: Flow(), server: Flow()}
        table[key] = stream
        self.streams.append(stream)
        self._by_index[(seg.proto, index)] = stream
        return stream

    def stream_of(self, pa: PacketAnalysis) -> Stream:
        """The connection (or UDP conversation) a packet belongs to."""
        return self._by_index[(pa.segment.proto, pa.stream)]

    # -- the packet ------------------------------------------------------------------
    def feed(self, seg: Segment) -> PacketAnalysis:
        """Analyse the next segment of the capture."""
        src, dst = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = frozenset((src, dst))
        if seg.proto == "udp":
            stream = self._udp.get(key) or self._new_stream(seg, self._udp, key)
            stream.packets += 1
            stream.last_ns = seg.ts_ns
            flow = stream.flows[src]
            flow.packets += 1
            flow.bytes += seg.length
            return PacketAnalysis(seg, stream.index, stream.role(src))

        stream = self._tcp.get(key) or self._new_stream(seg, self._tcp, key)
        flags = seg.flags
        found: set[str] = set()
        if flags & (SYN | ACK) == SYN:
            fwd = stream.flows[src]
            if fwd.base_set and seg.seq != fwd.base_seq:
                # A SYN with another ISN on the same addresses and ports: the ports were
                # reused for a new connection, a new tcp.stream.
                stream = self._new_stream(seg, self._tcp, key)
                found.add("reused_ports")
            elif fwd.base_set:
                # The same SYN again: restore nextseq (an RST may have moved it).
                fwd.nextseq = fwd.maxseqtobeacked
        fwd, rev = stream.flows[src], stream.flows[dst]
        if flags & (SYN | ACK) == (SYN | ACK) and fwd.base_set and seg.seq != fwd.base_seq:
            fwd.base_seq = seg.seq
            found.add("reused_ports")
        stream.packets += 1
        stream.last_ns = seg.ts_ns
        pa = PacketAnalysis(seg, stream.index, stream.role(src))

        if not fwd.base_set:
            fwd.base_seq = seg.seq if flags & SYN else (seg.seq - 1) & MASK
            fwd.base_set = True
        if not rev.base_set and flags & ACK:
            rev.base_seq = (seg.ack - 1) & MASK
            rev.base_set = True

        self._sequence_analysis(stream, fwd, rev, seg, pa, found)

        pa.seq = (seg.seq - fwd.base_seq) & MASK
        pa.nextseq = (pa.seq + seg.length + (1 if flags & (SYN | FIN) else 0)) & MASK
        pa.ack = (seg.ack - rev.base_seq) & MASK if flags & ACK else seg.ack
        if not flags & SYN:   # SYNs are never scaled
            pa.window_size = seg.window << fwd.win_scale if fwd.win_scale >= 0 else seg.window
            pa.window_size_scalefactor = 1 << fwd.win_scale if fwd.win_scale >= 0 else fwd.win_scale
            pa.scale_unknown = fwd.win_scale == UNKNOWN_SCALE
        else:
            pa.window_size = seg.window
        if flags & SYN:
            if not flags & ACK:
                stream.ts_mru_syn = seg.ts_ns
            fwd.is_first_ack = True
        if flags & (SYN | ACK) == ACK:
            if stream.ts_mru_syn and not stream.ts_first_rtt:
                stream.ts_first_rtt = seg.ts_ns - stream.ts_mru_syn
            fwd.is_first_ack = False
        self._options(stream, fwd, rev, seg, pa)
        if flags & SYN:
            self._verify_window_scaling(bool(flags & ACK), fwd, rev)
        pa.flags = [name for name in ANALYSIS_ORDER if name in found]

        fwd.packets += 1
        if seg.length and not ({"retransmission", "keep_alive"} & found):
            fwd.bytes += seg.length
        if "retransmission" in found:
            fwd.retransmissions += 1
        self._connection_events(stream, fwd, rev, seg, pa)
        return pa

    def _options(self, stream: Stream, fwd: Flow, rev: Flow, seg: Segment, pa: PacketAnalysis) -> None:
        """The option values of this packet, as dissect_tcp_options() records them."""
        pa.mss_val, pa.wscale_shift, pa.sack_perm = seg.mss, seg.wscale, seg.sack_perm
        if seg.timestamps:
            pa.tsval, pa.tsecr = seg.timestamps
        if seg.flags & SYN:
            fwd.mss, fwd.sack_perm, fwd.timestamps = seg.mss, seg.sack_perm, seg.timestamps is not None
            fwd.isn = seg.seq
        if seg.wscale is not None:
            fwd.win_scale = min(seg.wscale, 14)   # RFC 7323: a shift over 14 is taken as 14
        fwd.sack_ranges = []
        if seg.sack:
            base = rev.base_seq
            edges = [((le - base) & MASK, (re - base) & MASK) for le, re in seg.sack]
            pa.sack_le, pa.sack_re = [e[0] for e in edges], [e[1] for e in edges]
            fwd.sack_ranges = edges[:SACK_BLOCKS_FOR_FLIGHT]
            # RFC 2883 D-SACK: the first block lies below the cumulative ACK,
            # or inside the second block.
            ack = pa.ack
            first = edges[0]
            if seq_le(first[1], ack) or (len(edges) > 1 and seq_lt(edges[1][0], first[1])
                                         and not seq_lt(edges[1][1], first[1])):
                pa.dsack = first

    @staticmethod
    def _verify_window_scaling(is_synack: bool, fwd: Flow, rev: Flow) -> None:
        """Both SYNs must carry the option, or neither side scales (verify_tcp_window_scaling)."""
        if fwd.win_scale == UNKNOWN_SCALE:
            fwd.win_scale = rev.win_scale = NO_SCALING
        elif is_synack and rev.win_scale == NO_SCALING:
            fwd.win_scale = NO_SCALING

    def _sequence_analysis(self, stream: Stream, fwd: Flow, rev: Flow, seg: Segment,
                           pa: PacketAnalysis, found: set) -> None:
        """tcp_analyze_sequence_number() of Wireshark 4.0.17, in its order."""
        seq, ack, seglen, flags, window, ts = seg.seq, seg.ack, seg.length, seg.flags, seg.window, seg.ts_ns
        # Time differences are unsigned 64-bit in Wireshark: a packet stamped
        # earlier than the one before it (0 <= fails) never counts as "soon".
        sfr = flags & (SYN | FIN | RST)
        if flags & ACK:
            rev.valid_bif = True

        if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
            found.add("zero_window_probe")
        else:
            if window == 0 and not sfr:
                found.add("zero_window")
            if fwd.nextseq and seq_gt(seq, fwd.nextseq) and not flags & RST:
                found.add("lost_segment")
                fwd.valid_bif = False
            if seglen in (0, 1) and seq == (fwd.nextseq - 1) & MASK and not sfr:
                found.add("keep_alive")
            if (seglen == 0 and window and window != fwd.window and seq == fwd.nextseq
                    and ack == fwd.lastack and not sfr):
                found.add("window_update")
            if seglen > 0 and rev.win_scale != UNKNOWN_SCALE and not sfr:
                shift = 0 if rev.is_first_ack or rev.win_scale == NO_SCALING else rev.win_scale
                if (seq + seglen) & MASK == (rev.lastack + ((rev.window << shift) & MASK)) & MASK:
                    found.add("window_full")
            repeats = (seglen == 0 and window == fwd.window and seq == fwd.nextseq
                       and ack == fwd.lastack and not sfr)
            if repeats and window and "keep_alive" in rev.lastsegmentflags:
                found.add("keep_alive_ack")
            elif repeats and window == 0 and "zero_window_probe" in rev.lastsegmentflags:
                found.add("zero_window_probe_ack")
            elif repeats and window:
                fwd.dupacknum = 1 if fwd.dupacknum == -1 else fwd.dupacknum + 1
                found.add("duplicate_ack")

        # finished_fwd: a new ACK number resets the duplicate-ACK count
        if ack != fwd.lastack:
            fwd.lastnondupack = seg.number
            fwd.dupacknum = 0

        if rev.maxseqtobeacked and seq_gt(ack, rev.maxseqtobeacked) and flags & ACK:
            if seq_lt(rev.maxseqtobeacked, rev.nextseq):
                rev.maxseqtobeacked = rev.nextseq
                found.add("ack_lost_segment")
            else:
                # The other side only sends pure ACKs: flag the gap once,
                # and again only after that side has been seen acknowledging.
                if rev.dupacknum == 0:
                    found.add("ack_lost_segment")
                rev.dupacknum = -1

        if (seglen > 0 or flags & (SYN | FIN)) and "keep_alive" not in found:
            seq_not_advanced = bool(fwd.nextseq) and seq_lt(seq, fwd.nextseq)
            if seglen > 1 and (fwd.nextseq - 1) & MASK == seq:
                seq_not_advanced = False
            if seglen > 0 and rev.lastack and seq_le((seq + seglen) & MASK, rev.lastack):
                found.update(("spurious_retransmission", "retransmission"))
            elif (seq_not_advanced and rev.dupacknum >= 2 and rev.lastack == seq
                  and 0 <= ts - rev.lastacktime < 20_000_000):
                found.update(("fast_retransmission", "retransmission"))
            elif (seq_not_advanced and 0 <= ts - fwd.nextseqtime < (stream.ts_first_rtt or 3_000_000)
                  and fwd.nextseq != (seq + seglen + (1 if flags & (SYN | FIN) else 0)) & MASK):
                found.add("out_of_order")
            elif seq_not_advanced:
                found.add("retransmission")
                # tcp.analysis.rto: time since the oldest unacknowledged segment.
                rto_ns, pa.rto_frame = ts - fwd.nextseqtime, fwd.nextseqframe
                if fwd.segments:
                    oldest = fwd.segments[-1]
                    rto_ns, pa.rto_frame = ts - oldest.ts_ns, oldest.frame
                if rto_ns:
                    pa.rto = rto_ns / 1e9
                else:
                    pa.rto_frame = None

        nextseq = (seq + seglen) & MASK
        if (seglen or flags & (SYN | FIN)) and len(fwd.segments) < MAX_UNACKED_SEGMENTS:
            if flags & (SYN | FIN):
                nextseq = (nextseq + 1) & MASK
            fwd.segments.insert(0, _Unacked(seg.number, seq, nextseq, ts))
        probe = "zero_window_probe" in found
        if (seq_gt(nextseq, fwd.nextseq) or not fwd.nextseq) and not probe:
            fwd.nextseq, fwd.nextseqframe, fwd.nextseqtime = nextseq, seg.number, ts
        if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and not probe:
            fwd.maxseqtobeacked = fwd.nextseq
        fwd.window = window
        fwd.lastack = ack
        fwd.lastacktime = ts
        fwd.lastsegmentflags = frozenset(found)

        # What this ACK acknowledges: the RTT sample, and the segments it retires.
        kept = []
        for ual in rev.segments:          # newest first; the oldest exact match wins
            if ack == ual.nextseq:
                pa.acks_frame = ual.frame
                pa.ack_rtt = (ts - ual.ts_ns) / 1e9
                continue
            if seq_gt(ack, ual.seq) and seq_le(ack, ual.nextseq):
                ual.seq = ack             # partly acknowledged: keep the rest
            elif not seq_gt(ual.nextseq, ack):
                continue                  # older than the ACK: retired
            kept.append(ual)
        rev.segments = kept
        if pa.ack_rtt == 0:
            pa.ack_rtt = None             # tshark prints no RTT of zero

        if seglen and fwd.segments and fwd.valid_bif:
            base = fwd.base_seq
            first = min((u.seq - base) & MASK for u in fwd.segments)
            last = max((u.nextseq - base) & MASK for u in fwd.segments)
            in_flight = (last - first) & MASK
            for le, re in rev.sack_ranges:
                in_flight = (in_flight - ((re - le) & MASK)) & MASK
            if 0 < in_flight < 2_000_000_000:
                if flags & (SYN | FIN):
                    in_flight -= 1   # SYN and FIN are not bytes
                pa.bytes_in_flight = in_flight or None

    def _connection_events(self, stream: Stream, fwd: Flow, rev: Flow, seg: Segment, pa: PacketAnalysis) -> None:
        """Handshake steps and how the connection closes (what the explanations tell)."""
        flags = seg.flags
        if flags & SYN and not flags & ACK:
            pa.handshake_step = 1
            stream.syn_seen = True
            stream.handshake = [seg.number]
        elif flags & SYN and flags & ACK:
            pa.handshake_step = 2
            stream.handshake[1:] = [seg.number]
        elif flags & RST:
            fwd.rst = True
            stream.rst_from = pa.role
            stream.ended = f"RST from the {pa.role}"
            pa.refused = not stream.established and pa.role == "server" and len(stream.handshake) == 1
        elif (flags & ACK and stream.syn_seen and not stream.established and pa.role == "client"
              and len(stream.handshake) == 2 and pa.ack == 1):
            pa.handshake_step = 3
            stream.handshake.append(seg.number)
            stream.established = True
        if flags & FIN and not flags & RST:
            pa.first_fin = not rev.fin
            fwd.fin = True
            stream.fin_from.append(pa.role)
            stream.ended = "FIN from both sides" if rev.fin else f"FIN from the {pa.role}"
        elif flags & ACK and rev.fin and not seg.length and not flags & (SYN | RST):
            pa.acks_peer_fin = True
        pa.both_closed = fwd.fin and rev.fin

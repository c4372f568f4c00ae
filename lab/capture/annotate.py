"""The annotator: every TCP segment and UDP datagram of the chat, explained.

Pure code (no sockets, no scapy): a list of :class:`~lab.capture.decode.Segment`
in, a list of :class:`Annotated` out.  It follows each connection by its
4-tuple (numbered like tshark's ``tcp.stream``), tells the client (the side
that sent the first SYN) from the server, and computes what Wireshark shows:

* relative sequence and acknowledgement numbers: a per-direction base taken
  from the SYN (or ``seq - 1`` when the capture starts mid-stream, and
  ``ack - 1`` for the other direction); SYN and FIN each consume one number;
* Wireshark's ``tcp.analysis`` flags, with the same rules in the same order
  as ``tcp_analyze_sequence_number()`` in Wireshark's packet-tcp.c
  (retransmission, fast and spurious retransmission, out-of-order, duplicate
  ACK, lost segment, ACKed unseen segment, zero window and its probes,
  window full, window update, keep-alive and keep-alive ACK).

The test-suite checks every packet of every fixture against tshark.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from lab.capture.decode import ACK, FIN, PSH, RST, SYN, Segment, flag_letters

MASK = 0xFFFFFFFF

# Analysis flag names are the suffixes of tshark's fields: "retransmission"
# is `tcp.analysis.retransmission`.  As in tshark, a fast or a spurious
# retransmission is also a retransmission.
ANALYSIS_ORDER = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "duplicate_ack", "lost_segment", "ack_lost_segment", "zero_window", "zero_window_probe",
    "zero_window_probe_ack", "window_full", "window_update", "keep_alive", "keep_alive_ack",
)

ANALYSIS_TEXT = {
    "retransmission": "Retransmission: this data was sent before and not acknowledged in time, "
                      "so TCP sends it again (the first copy or its ACK was lost or late).",
    "fast_retransmission": "Fast retransmission: sent again at once because duplicate ACKs said a "
                           "segment was missing, without waiting for the retransmission timer.",
    "spurious_retransmission": "Spurious retransmission: the receiver had already acknowledged "
                               "these bytes; this copy was not needed.",
    "out_of_order": "Out-of-order: a segment with a lower sequence number arriving after a higher "
                    "one (reordered, or a quick retransmission).",
    "duplicate_ack": "Duplicate ACK: the receiver repeats the same ACK number, which usually "
                     "means a segment after a gap arrived and the missing bytes are still awaited.",
    "lost_segment": "Previous segment not captured: the sequence number jumps ahead, so bytes "
                    "before this segment were lost or the capture missed them.",
    "ack_lost_segment": "ACKed unseen segment: this ACK covers bytes the capture never saw "
                        "(the capture missed them, they were still on the wire).",
    "zero_window": "Zero window: the receiver's buffer is full (its application is not reading); "
                   "the sender must stop until the window opens again.",
    "zero_window_probe": "Zero-window probe: one byte sent to ask whether the window has opened.",
    "zero_window_probe_ack": "Zero-window probe ACK: the window is still closed.",
    "window_full": "Window full: this segment fills all the space the receiver advertised; the "
                   "sender must wait for an ACK before sending more.",
    "window_update": "Window update: no new data or ACK, only a new receive window (the "
                     "application read data, so there is room again).",
    "keep_alive": "Keep-alive: a probe with an old sequence number sent on an idle connection "
                  "(or on a closed window) to check that the peer is still there.",
    "keep_alive_ack": "Keep-alive ACK: the peer answers the keep-alive; it is still there.",
}

# Server lines of docs/PROTOCOL.md (the same rule as lab.chat.wire.SERVER_LINE).
SERVER_LINE = re.compile(r"^(\d\d:\d\d:\d\d) (<[^ ]+>|\*[^ ]+\*|->[^ ]+|\*\*\*|---|!!!) (.*)$")


@dataclass
class _Flow:
    """Wireshark's per-direction state (struct tcp_flow_t + tcp_analyze_seq_flow_info_t)."""

    base_seq: int = 0
    base_set: bool = False
    saw_syn: bool = False
    isn: int | None = None
    win_scale: int = -1          # -1 unknown, -2 no scaling, else the shift
    window: int | None = None    # last raw window seen (None: nothing yet)
    nextseq: int = 0
    nextseqtime: int = 0
    maxseqtobeacked: int = 0
    lastack: int = 0
    lastacktime: int = 0
    dupacknum: int = 0
    lastsegmentflags: frozenset = frozenset()
    fin: bool = False
    rst: bool = False
    bytes: int = 0
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
    flows: dict = field(default_factory=dict)     # (addr, port) of the sender -> _Flow
    handshake: list = field(default_factory=list)  # frame numbers of SYN, SYN-ACK, ACK
    established: bool = False
    syn_seen: bool = False
    closed_by: str | None = None   # "fin" / "rst"
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
        """4-tuple, ephemeral port, duration, bytes each way and how the connection ended."""
        c, s = self.flows.get(self.client, _Flow()), self.flows.get(self.server, _Flow())
        return {
            "stream": self.index, "proto": self.proto,
            "client": f"{_fmt(self.client)}", "server": f"{_fmt(self.server)}",
            "ephemeral_port": self.client[1], "duration": round(self.duration, 6),
            "packets": self.packets, "bytes_client_to_server": c.bytes, "bytes_server_to_client": s.bytes,
            "retransmissions": c.retransmissions + s.retransmissions,
            "handshake": "complete" if self.established else ("partial" if self.syn_seen else "not captured"),
            "ended": self.ended,
        }


@dataclass
class Annotated:
    """One packet with everything the lab says about it."""

    segment: Segment
    stream: int
    role: str            # who sent it: "client" or "server"
    seq: int = 0         # relative, as Wireshark shows them
    ack: int = 0
    step: str = ""       # "SYN 1/3", "SYN-ACK 2/3", "ACK 3/3", "FIN", "RST", "data", "ACK", ...
    text: list = field(default_factory=list)   # the chat lines this segment carries
    analysis: list = field(default_factory=list)
    annotation: str = ""

    @property
    def flags(self) -> str:
        """TCP flags as letters in the order SAFRPUEC ("" for UDP)."""
        return flag_letters(self.segment.flags) if self.segment.proto == "tcp" else ""

    def to_dict(self) -> dict:
        """The stable JSON shape documented in docs/CAPTURE.md."""
        s = self.segment
        return {
            "frame": s.number, "time": round(s.time, 6), "src": s.src, "sport": s.sport,
            "dst": s.dst, "dport": s.dport, "proto": s.proto, "flags": self.flags,
            "seq": self.seq, "ack": self.ack,
            "seq_raw": s.seq if s.proto == "tcp" else None, "ack_raw": s.ack if s.proto == "tcp" else None,
            "len": s.length, "window": s.window if s.proto == "tcp" else None,
            "stream": self.stream, "role": self.role, "step": self.step, "text": self.text,
            "annotation": self.annotation, "analysis": self.analysis,
        }


def _fmt(endpoint: tuple[str, int]) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _gt(a: int, b: int) -> bool:
    """a > b in 32-bit sequence space (Wireshark's GT_SEQ)."""
    return a != b and ((a - b) & MASK) < 0x80000000


def _lt(a: int, b: int) -> bool:
    return _gt(b, a)


def _le(a: int, b: int) -> bool:
    return a == b or _lt(a, b)


def chat_lines(payload: bytes) -> list[str]:
    """The text lines a payload carries (UTF-8, invalid bytes replaced, line ends removed)."""
    text = payload.decode("utf-8", "replace")
    return [line for line in re.split(r"\r\n|\n|\r", text) if line.strip()]


def describe_line(line: str, from_client: bool, first_line: bool) -> str:
    """What one chat line means, in the words of docs/PROTOCOL.md."""
    shown = line if len(line) <= 60 else line[:57] + "..."
    if from_client:
        if first_line:
            return f'asks for the name "{shown}"'
        if line.startswith("/msg "):
            parts = line.split(" ", 2)
            return f"a private message to {parts[1]}: \"{parts[2] if len(parts) > 2 else ''}\""
        if line.startswith("/list"):
            return "/list: asks who is online"
        if line.startswith("/quit"):
            return "/quit: says goodbye (the server will answer bye and close)"
        if line.startswith("/") and not line.startswith("//"):
            return f'the command "{shown}"'
        return f'a chat message to everyone: "{shown}"'
    m = SERVER_LINE.match(line)
    if not m:
        return f'"{shown}"'
    kind, body = m.group(2), m.group(3)
    if kind.startswith("<"):
        return f"{kind[1:-1]}'s message relayed to everyone: \"{body}\""
    if kind.startswith("*") and kind != "***":
        return f"a private message from {kind[1:-1]}: \"{body}\""
    if kind.startswith("->"):
        return f"the copy of a private message to {kind[2:]}: \"{body}\""
    if kind == "***":
        return f'a room event: "{body}"'
    if kind == "!!!":
        return f'an error for this client: "{body}"'
    return f'information for this client: "{body}"'


def describe_udp(payload: bytes, from_client: bool) -> str:
    """What one datagram of the UDP chat (docs/UDP.md) says; plain text lines otherwise."""
    text = payload.decode("utf-8", "replace").rstrip("\r\n")
    kind, _, rest = text.partition(" ")
    if from_client and kind == "J":
        cookie, _, name = rest.partition(" ")
        name = name.split(" ")[0].rstrip(".")
        if cookie == "-":
            return f'a join request as "{name}", without a cookie yet (the server will answer with one)'
        return (f'the join request as "{name}" again, echoing the server\'s cookie: this proves the client '
                "really receives at its address (UDP has no handshake to prove it)")
    if not from_client and kind == "C":
        return ("the server's cookie: \"send your join again with this\". Until the address is proven, the "
                "server never sends more bytes than it received (anti-amplification)")
    if from_client and kind == "K" and not rest:
        return "a keepalive: \"I am still here\" (no connection exists that could tell the server)"
    if from_client and kind == "M":
        seq, _, line = rest.partition(" ")
        if seq.isdigit():
            return f"chat line #{seq} of this client: {describe_line(line, True, False)}"
    if not from_client and kind == "L":
        seq, _, rest2 = rest.partition(" ")
        origin, _, line = rest2.partition(" ")
        if seq.isdigit():
            return f"server line #{seq} to this client: {describe_line(line, False, False)}"
    lines = chat_lines(payload)
    return "; ".join(describe_line(line, from_client, False) for line in lines[:3]) or "no text"


class Annotator:
    """Incremental annotator: feed segments in capture order, get Annotated back.

    Keeps per-connection state, so a live capture can be annotated packet by
    packet; :func:`annotate` does a whole list at once.
    """

    def __init__(self, server_ports: set[int] | None = None):
        self.server_ports = set(server_ports or ())
        self.streams: list[Stream] = []
        self._tcp: dict = {}
        self._udp: dict = {}
        self._udp_count = 0
        self._first_lines: set = set()

    # -- connection bookkeeping ---------------------------------------------------
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

    def _stream_for(self, seg: Segment) -> Stream:
        src, dst = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = frozenset((src, dst))
        table = self._tcp if seg.proto == "tcp" else self._udp
        stream = table.get(key)
        if stream is not None and seg.proto == "tcp" and seg.flags & (SYN | ACK) == SYN:
            flow = stream.flows.get(src)
            # A new SYN with another ISN on the same 4-tuple: the ports were reused,
            # a new connection (Wireshark starts a new tcp.stream too).
            if flow is not None and flow.saw_syn and seg.seq != flow.base_seq:
                stream = None
        if stream is None:
            client, server = self._guess_roles(seg)
            if seg.proto == "tcp":
                index = sum(1 for s in self.streams if s.proto == "tcp")
            else:
                index = self._udp_count
                self._udp_count += 1
            stream = Stream(index, seg.proto, client, server, seg.ts_ns)
            stream.flows = {client: _Flow(), server: _Flow()}
            table[key] = stream
            self.streams.append(stream)
        return stream

    # -- the packet -----------------------------------------------------------------
    def feed(self, seg: Segment) -> Annotated:
        """Annotate the next segment of the capture."""
        stream = self._stream_for(seg)
        stream.packets += 1
        stream.last_ns = seg.ts_ns
        src = (seg.src, seg.sport)
        role = stream.role(src)
        if seg.proto == "udp":
            return self._udp_packet(stream, seg, role)
        fwd = stream.flows[src]
        rev = stream.flows[(seg.dst, seg.dport)]
        ann = Annotated(seg, stream.index, role)
        self._relative(stream, fwd, rev, seg, ann)
        ann.analysis = self._analyse(stream, fwd, rev, seg)
        fwd.packets += 1
        if seg.length and not ({"retransmission", "keep_alive"} & set(ann.analysis)):
            fwd.bytes += seg.length
        if "retransmission" in ann.analysis:
            fwd.retransmissions += 1
        self._explain(stream, fwd, rev, seg, ann)
        return ann

    def _relative(self, stream: Stream, fwd: _Flow, rev: _Flow, seg: Segment, ann: Annotated) -> None:
        flags = seg.flags
        if flags & SYN and not flags & ACK:
            stream.ts_mru_syn = seg.ts_ns
            stream.syn_seen = True
        elif flags & ACK and not flags & SYN and stream.ts_mru_syn and not stream.ts_first_rtt:
            stream.ts_first_rtt = max(1, seg.ts_ns - stream.ts_mru_syn)
        if flags & SYN:
            # Window scaling is agreed in the SYN and SYN-ACK: both must offer it.
            fwd.win_scale = seg.wscale if seg.wscale is not None else -2
            if flags & ACK and (fwd.win_scale == -2 or rev.win_scale == -2):
                fwd.win_scale = rev.win_scale = -2
            fwd.isn = seg.seq
        if not fwd.base_set:
            fwd.base_seq = seg.seq if flags & SYN else (seg.seq - 1) & MASK
            fwd.saw_syn = bool(flags & SYN)
            fwd.base_set = True
        if not rev.base_set and flags & ACK:
            rev.base_seq = (seg.ack - 1) & MASK
            rev.base_set = True
        ann.seq = (seg.seq - fwd.base_seq) & MASK
        ann.ack = (seg.ack - rev.base_seq) & MASK if flags & ACK else 0

    def _analyse(self, stream: Stream, fwd: _Flow, rev: _Flow, seg: Segment) -> list[str]:
        """Wireshark's tcp_analyze_sequence_number(), rule for rule."""
        seq, ack, seglen, flags, ts = seg.seq, seg.ack if seg.flags & ACK else 0, seg.length, seg.flags, seg.ts_ns
        window = seg.window
        found: set[str] = set()
        fwd_window = fwd.window if fwd.window is not None else -1
        rev_window = rev.window if rev.window is not None else -1
        sfr = flags & (SYN | FIN | RST)

        def finished_fwd() -> None:
            if ack != fwd.lastack:
                fwd.dupacknum = 0

        jumped = False
        if seglen == 1 and seq == fwd.nextseq and rev_window == 0:
            found.add("zero_window_probe")
            jumped = True
        if not jumped:
            if window == 0 and not sfr:
                found.add("zero_window")
            if fwd.nextseq and _gt(seq, fwd.nextseq) and not flags & RST:
                found.add("lost_segment")
            if seglen in (0, 1) and seq == (fwd.nextseq - 1) & MASK and not sfr:
                found.add("keep_alive")
            if (seglen == 0 and window and window != fwd_window and seq == fwd.nextseq
                    and ack == fwd.lastack and not sfr):
                found.add("window_update")
            if seglen > 0 and rev.win_scale != -1 and not sfr and rev.window is not None:
                shift = 0 if rev.win_scale == -2 else rev.win_scale
                if (seq + seglen) & MASK == (rev.lastack + (rev.window << shift)) & MASK:
                    found.add("window_full")
            same = (seglen == 0 and window == fwd_window and seq == fwd.nextseq
                    and ack == fwd.lastack and not sfr)
            if same and window and "keep_alive" in rev.lastsegmentflags:
                found.add("keep_alive_ack")
                jumped = True
            elif same and window == 0 and "zero_window_probe" in rev.lastsegmentflags:
                found.add("zero_window_probe_ack")
                jumped = True
            elif same and window:
                fwd.dupacknum += 1
                found.add("duplicate_ack")
        finished_fwd()

        if rev.maxseqtobeacked and _gt(ack, rev.maxseqtobeacked) and flags & ACK:
            found.add("ack_lost_segment")
            rev.maxseqtobeacked = rev.nextseq

        if (seglen > 0 or flags & (SYN | FIN)) and "keep_alive" not in found:
            seq_not_advanced = bool(fwd.nextseq) and _lt(seq, fwd.nextseq)
            if seglen > 1 and (fwd.nextseq - 1) & MASK == seq:
                seq_not_advanced = False
            ooo_thres = stream.ts_first_rtt or 3_000_000
            if (seq_not_advanced and rev.dupacknum >= 2 and rev.lastack == seq
                    and ts - rev.lastacktime < 20_000_000):
                found.update(("fast_retransmission", "retransmission"))
            elif seq_not_advanced and ts - fwd.nextseqtime < ooo_thres and fwd.nextseq != (seq + seglen) & MASK:
                found.add("out_of_order")
            elif seglen > 0 and rev.lastack and _le((seq + seglen) & MASK, rev.lastack):
                found.update(("spurious_retransmission", "retransmission"))
            elif seq_not_advanced:
                found.add("retransmission")

        nextseq = (seq + seglen + (1 if flags & (SYN | FIN) else 0)) & MASK
        if (_gt(nextseq, fwd.nextseq) or not fwd.nextseq) and "zero_window_probe" not in found:
            fwd.nextseq = nextseq
            fwd.nextseqtime = ts
        if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and "zero_window_probe" not in found:
            fwd.maxseqtobeacked = fwd.nextseq
        fwd.window = window
        fwd.lastack = ack
        fwd.lastacktime = ts
        fwd.lastsegmentflags = frozenset(found)
        return [name for name in ANALYSIS_ORDER if name in found]

    # -- the sentence ---------------------------------------------------------------------
    def _explain(self, stream: Stream, fwd: _Flow, rev: _Flow, seg: Segment, ann: Annotated) -> None:
        flags = seg.flags
        who = ann.role
        other = "server" if who == "client" else "client"
        parts: list[str] = []
        if flags & SYN and not flags & ACK:
            ann.step = "SYN 1/3"
            stream.handshake = [seg.number]
            parts.append(
                f"SYN 1/3: the client {_fmt(stream.client)} asks to open a connection to the server "
                f"{_fmt(stream.server)}. Its initial sequence number (ISN) is {seg.seq}, shown as relative "
                f"seq 0. Port {stream.client[1]} is an ephemeral port the client's OS picked for this connection.")
        elif flags & SYN and flags & ACK:
            ann.step = "SYN-ACK 2/3"
            stream.handshake[1:] = [seg.number]
            parts.append(
                f"SYN-ACK 2/3: the server accepts. It sends its own ISN {seg.seq} (relative 0) and "
                f"ACK {ann.ack}: the client's ISN + 1, because a SYN counts as one byte.")
        elif flags & RST:
            ann.step = "RST"
            stream.ended = f"RST from the {who}"
            stream.rst_from = who
            if not stream.established and who == "server" and len(stream.handshake) == 1:
                parts.append(f"RST: nothing listens on port {stream.server[1]}, so the server's kernel "
                             "refuses the connection (the client sees 'connection refused').")
            else:
                parts.append(
                    f"RST: the {who} aborts the connection. No more data flows either way and no FIN "
                    f"handshake follows. Typical cause: the {who}'s socket was closed while received data "
                    f"was still unread (or its process was killed, or SO_LINGER was 0). The {other}'s "
                    "recv() raises ConnectionResetError.")
        elif (flags & ACK and stream.syn_seen and not stream.established and who == "client"
              and len(stream.handshake) == 2 and ann.ack == 1):
            ann.step = "ACK 3/3"
            stream.handshake.append(seg.number)
            stream.established = True
            parts.append(
                f"ACK 3/3: the client acknowledges the server's SYN (ACK {ann.ack} = server ISN + 1). "
                "Connection established: both sides may now send data.")
        if flags & FIN:
            if rev.fin:
                parts.append(
                    f"FIN: the {who} has finished sending too. Each side closed its direction: an orderly "
                    "close. The FIN counts as one sequence number.")
            else:
                parts.append(
                    f"FIN: the {who} has finished sending (it called close() or shutdown()): an orderly "
                    f"close of its direction. The {other} can still send; its recv() will return b'' once "
                    "it has read everything. The FIN counts as one sequence number.")
            fwd.fin = True
            ann.step = ann.step or "FIN"
            stream.fin_from.append(who)
            stream.ended = "FIN from both sides" if rev.fin else f"FIN from the {who}"
        if seg.length and "keep_alive" not in ann.analysis:
            lines = chat_lines(seg.payload)
            ann.text = lines
            end = ann.seq + seg.length
            # The first line a client sends is its name, if we saw the connection start.
            first = stream.syn_seen and (stream.index, who) not in self._first_lines
            said = [describe_line(line, who == "client", first and i == 0) for i, line in enumerate(lines[:3])]
            if who == "client" and lines:
                self._first_lines.add((stream.index, who))
            what = ("; ".join(said) + (f" (+{len(lines) - 3} more lines)" if len(lines) > 3 else "")) if said else "binary data"
            parts.append(f"Data: the {who} sends {seg.length} bytes (relative seq {ann.seq} to {end}): {what}.")
            ann.step = ann.step or "data"
        elif not parts and flags & ACK and not ann.analysis:
            ann.step = "ACK"
            if rev.fin and fwd.fin and not seg.length:
                parts.append(f"ACK: the {who} acknowledges the {other}'s FIN. The connection is closed.")
                stream.ended = "FIN from both sides"
            elif rev.fin:
                parts.append(f"ACK: the {who} acknowledges the {other}'s FIN (ACK {ann.ack}).")
            else:
                parts.append(f"ACK: the {who} has received every byte from the {other} before relative "
                             f"seq {ann.ack}; it has nothing to send.")
        if not ann.step:
            ann.step = "ACK" if flags & ACK else flag_letters(flags)
        for name in ann.analysis:
            if name == "retransmission" and len({"fast_retransmission", "spurious_retransmission"} & set(ann.analysis)):
                continue
            parts.append(ANALYSIS_TEXT[name])
        if flags & PSH and seg.length and not ann.analysis:
            parts.append("PSH: deliver to the application now.")
        ann.annotation = " ".join(parts)

    def _udp_packet(self, stream: Stream, seg: Segment, role: str) -> Annotated:
        ann = Annotated(seg, stream.index, role, step="datagram")
        flow = stream.flows[(seg.src, seg.sport)]
        flow.packets += 1
        flow.bytes += seg.length
        ann.text = chat_lines(seg.payload)
        said = describe_udp(seg.payload, role == "client")
        ann.annotation = (
            f"UDP datagram: the {role} sends {seg.length} bytes: {said}. No connection, no ACK: "
            "if this datagram is lost, nothing sends it again.")
        return ann


def annotate(segments, server_ports: set[int] | None = None) -> list[Annotated]:
    """Annotate a whole capture (TCP and UDP segments in capture order)."""
    annotator = Annotator(server_ports)
    return [annotator.feed(seg) for seg in segments]


def annotate_with_streams(segments, server_ports: set[int] | None = None) -> tuple[list[Annotated], list[Stream]]:
    """Like annotate(), and also the connections with their summaries."""
    annotator = Annotator(server_ports)
    out = [annotator.feed(seg) for seg in segments]
    return out, annotator.streams


def to_json(annotated: Annotated) -> str:
    """One packet as one line of JSON (the `chatlab sniff --json` format)."""
    return json.dumps(annotated.to_dict(), ensure_ascii=False)

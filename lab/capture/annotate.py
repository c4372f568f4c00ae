"""The annotator: every TCP segment and UDP datagram of the chat, explained.

Pure code (no sockets, no scapy): a list of :class:`~lab.capture.decode.Segment`
in, a list of :class:`Annotated` out.  It only joins the parts, each in its
own module:

* :mod:`lab.capture.analysis`: what Wireshark computes (relative numbers,
  ``tcp.analysis`` flags, windows, RTT, bytes in flight, options);
* :mod:`lab.capture.recovery`: why a segment was re-sent;
* :mod:`lab.capture.chatlines`: what the chat lines in the payload say
  (with the kit's own wire parser);
* :mod:`lab.capture.explain`: the sentence a student reads.

The test suite checks every packet of every fixture against tshark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lab.capture import explain
from lab.capture.analysis import JSON_KEYS, Analyzer, PacketAnalysis, Stream
from lab.capture.chatlines import ChatReader
from lab.capture.decode import Segment, flag_letters
from lab.capture.recovery import LossRecovery, Retransmission


@dataclass
class Annotated:
    """One packet with everything the lab says about it."""

    segment: Segment
    stream: int
    role: str            # who sent it: "client" or "server"
    seq: int = 0         # relative, as Wireshark shows them
    ack: int = 0
    step: str = ""       # "SYN 1/3", "SYN-ACK 2/3", "ACK 3/3", "FIN", "RST", "data", "ACK", "datagram"
    text: list = field(default_factory=list)   # the chat lines this packet delivers
    analysis: list = field(default_factory=list)
    annotation: str = ""
    tcp: PacketAnalysis | None = None          # Wireshark's values for a TCP packet (None for UDP)
    retransmission: Retransmission | None = None   # why it was re-sent, if it was
    rtt_ambiguous: bool = False  # its ack_rtt covers re-sent bytes: not a round-trip time (Karn's rule)

    @property
    def flags(self) -> str:
        """TCP flags as letters in the order SAFRPUEC ("" for UDP)."""
        return flag_letters(self.segment.flags) if self.segment.proto == "tcp" else ""

    def to_dict(self) -> dict:
        """The stable JSON shape documented in docs/CAPTURE.md."""
        s = self.segment
        tcp = s.proto == "tcp"
        out = {
            "frame": s.number, "time": round(s.time, 6), "src": s.src, "sport": s.sport,
            "dst": s.dst, "dport": s.dport, "proto": s.proto, "flags": self.flags,
            "seq": self.seq, "ack": self.ack,
            "seq_raw": s.seq if tcp else None, "ack_raw": s.ack if tcp else None,
            "len": s.length, "window": s.window if tcp else None,
            "stream": self.stream, "role": self.role, "step": self.step, "text": self.text,
            "annotation": self.annotation, "analysis": self.analysis,
        }
        out.update(self.tcp.to_dict() if self.tcp is not None else dict.fromkeys(JSON_KEYS))
        retx = self.retransmission
        out["retransmission"] = None if retx is None else {
            "cause": retx.cause, "original_frame": retx.original_frame, "evidence_frame": retx.evidence_frame,
            "spurious_by": list(retx.spurious_by) if retx.spurious_by else None}
        out["rtt_ambiguous"] = self.rtt_ambiguous if self.tcp is not None else None
        return out


class Annotator:
    """Incremental annotator: feed segments in capture order, get Annotated back.

    Keeps per-connection state, so a live capture can be annotated packet by
    packet; :func:`annotate` does a whole list at once.  When a later packet
    proves an earlier retransmission spurious (a D-SACK, or an ACK echoing
    the earlier copy's timestamp), the earlier ``Annotated`` is updated.
    """

    def __init__(self, server_ports: set[int] | None = None):
        self.analyzer = Analyzer(server_ports)
        self.recovery = LossRecovery()
        self.chat = ChatReader()
        self.topics = explain.Topics()
        self._resent: dict = {}   # frame -> Annotated of a retransmission not yet decided

    @property
    def streams(self) -> list[Stream]:
        """Every connection (and UDP conversation) seen so far, in order of appearance."""
        return self.analyzer.streams

    def feed(self, seg: Segment) -> Annotated:
        """Annotate the next segment of the capture."""
        pa = self.analyzer.feed(seg)
        stream = self.analyzer.stream_of(pa)
        ann = Annotated(seg, pa.stream, pa.role, step=explain.step_label(pa))
        if seg.proto == "udp":
            part = self.chat.udp(pa.role, seg.payload)
            ann.text = part.lines
            ann.annotation = explain.explain_udp(pa.role, seg.length, part.meaning)
            return ann
        ann.tcp, ann.seq, ann.ack, ann.analysis = pa, pa.seq, pa.ack, list(pa.flags)
        step = self.recovery.feed(pa)
        retx, proved = step.retransmission, step.proved
        ann.retransmission, ann.rtt_ambiguous = retx, step.rtt_ambiguous
        meaning = ""
        if seg.length and "keep_alive" not in pa.flags:
            part = self.chat.tcp(pa.stream, pa.role, seg.payload, resend=retx is not None,
                                 gap="lost_segment" in pa.flags, truncated=seg.truncated,
                                 saw_start=stream.syn_seen)
            ann.text, meaning = part.lines, part.meaning
        ann.annotation = explain.explain(pa, stream, meaning, retx, self.topics, step.rtt_ambiguous)
        if retx is not None:
            self._resent[seg.number] = (ann, meaning)
        for earlier in proved:
            entry = self._resent.pop(earlier.frame, None)
            if entry is not None:   # say it where the copy is shown, too
                before, before_meaning = entry
                before.annotation = explain.explain(before.tcp, stream, before_meaning, earlier, self.topics)
        if len(self._resent) > 10_000:   # bounded: forget the oldest undecided ones
            for frame in list(self._resent)[:1000]:
                del self._resent[frame]
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

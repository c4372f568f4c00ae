"""The English: what each packet means, for a student seeing TCP for the first time.

Pure functions from facts to sentences.  The facts come from
:mod:`lab.capture.analysis` (Wireshark's rules), :mod:`lab.capture.recovery`
(why a segment was re-sent) and :mod:`lab.capture.chatlines` (what the chat
says); nothing here computes a TCP rule.  Each sentence says what Linux
actually does and names the textbook rule as such, with its RFC.
"""

from __future__ import annotations

from lab.capture.analysis import NO_SCALING, PacketAnalysis, Stream, endpoint_text
from lab.capture.decode import ACK, FIN, PSH, RST, SYN
from lab.capture.recovery import Retransmission

ANALYSIS_TEXT = {
    "retransmission": "Retransmission (tshark's label): these bytes were sent before.",
    "fast_retransmission": "Fast retransmission (tshark's label: re-sent within 20 ms of the second "
                           "duplicate ACK asking for these bytes).",
    "spurious_retransmission": "Spurious retransmission (tshark's label): the capture had already seen an "
                               "ACK for these bytes.",
    "out_of_order": "Out-of-order (tshark's label): a lower sequence number than the segment before, "
                    "less than one round trip after it.",
    "duplicate_ack": "Duplicate ACK: the same ACK number, window and sequence number again: a segment "
                     "arrived but the bytes the ACK asks for are still missing.",
    "lost_segment": "Previous segment not captured: the sequence number jumps ahead, so bytes before it "
                    "were lost before the capture point or the capture missed them.",
    "ack_lost_segment": "ACKed unseen segment: this ACK covers bytes the capture never saw (they crossed "
                        "the wire, but the capture missed them).",
    "zero_window": "Zero window: the receiver's buffer is full (its application is not reading); the "
                   "sender must stop until the window opens again.",
    "zero_window_probe": "Zero-window probe: one byte sent to ask whether the window has opened (the "
                         "persist timer, RFC 9293 3.8.6.1).",
    "zero_window_probe_ack": "Zero-window probe ACK: the window is still closed.",
    "window_full": "Window full: this segment fills all the space the receiver advertised; the sender "
                   "must wait for an ACK before sending more.",
    "window_update": "Window update: no new data or ACK, only a new receive window (the application read "
                     "data, so there is room again).",
    "keep_alive": "Keep-alive: a probe with an old sequence number sent on an idle connection to check that "
                  "the peer is still there (TCP keepalive, RFC 9293 3.8.4).",
    "keep_alive_ack": "Keep-alive ACK: the peer answers the keep-alive; it is still there.",
    "reused_ports": "Port numbers reused: a new connection on the same addresses and ports as an "
                    "earlier one (a new ISN, so a new conversation).",
}

# tshark's labels for a re-sent segment, most specific first.
RETRANSMISSION_FLAGS = ("fast_retransmission", "spurious_retransmission", "out_of_order", "retransmission")
TSHARK_LABELS = {"fast_retransmission": "Fast retransmission", "spurious_retransmission": "Spurious retransmission",
                 "out_of_order": "Out-of-order", "retransmission": "Retransmission"}

ISN_TEXT = ("An ISN is not simply random: RFC 9293 (section 3.4.1) and RFC 6528 make it a clock "
            "(Linux: one tick every 64 ns) plus a keyed hash of the connection's addresses and ports. "
            "The clock makes a new connection on the same addresses start beyond the old one's numbers, "
            "so a delayed segment of the old connection is not taken for new data; the secret key makes "
            "it impossible to guess from outside, so nobody off the path can inject segments.")

PSH_TEXT = ("PSH is set: Linux sets it on the last segment of the data a write() handed over (RFC 9293 "
            "asks a sender without a push call to do so); it changes nothing at the receiver, which hands "
            "in-order data to recv() as soon as it arrives, PSH or not.")

RST_CAUSES = ("A kernel sends RST when a socket is closed while received data is still unread (RFC 1122 "
              "4.2.2.13: the data would be lost silently), when SO_LINGER is set with a zero timeout, or "
              "when a segment arrives for a socket that no longer exists (data sent to a peer that has "
              "closed completely). Killing a process is not a cause by itself: the kernel closes its "
              "sockets like close(), which sends a FIN unless unread data was waiting.")


class Topics:
    """Which long explanations were given already, and where (each is said in full once per capture)."""

    def __init__(self) -> None:
        self._where: dict = {}

    def seen(self, topic, frame: int) -> int | None:
        """None the first time ``topic`` comes up (remembering ``frame``); then the frame it was explained at."""
        if topic in self._where:
            return self._where[topic]
        self._where[topic] = frame
        return None


def format_duration(seconds: float) -> str:
    """A time interval in the unit that fits: ``13 µs``, ``6.5 ms``, ``1.25 s`` (never ``0.0000s``)."""
    magnitude = abs(seconds)
    if magnitude < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if magnitude < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def syn_options_text(pa: PacketAnalysis, explained_at: int | None = None) -> str:
    """The options of a SYN or SYN-ACK and what each one means.

    ``explained_at``: the frame where their meaning was given already; then
    only the values are listed.
    """
    if explained_at is not None:
        short = []
        if pa.mss_val is not None:
            short.append(f"MSS {pa.mss_val}")
        if pa.wscale_shift is not None:
            short.append(f"window scale {pa.wscale_shift} (x{1 << min(pa.wscale_shift, 14)})")
        if pa.sack_perm:
            short.append("SACK permitted")
        if pa.tsval is not None:
            short.append("timestamps")
        if not short:
            return "No options."
        return f"Options: {', '.join(short)} (their meaning: frame {explained_at})."
    parts = []
    if pa.mss_val is not None:
        parts.append(f"MSS {pa.mss_val} (the largest segment payload this side accepts)")
    if pa.wscale_shift is not None:
        shift = min(pa.wscale_shift, 14)
        parts.append(f"window scale {pa.wscale_shift} (its window field will count units of 2^{shift} = "
                     f"{1 << shift} bytes, RFC 7323; only if both SYNs carry the option)")
    if pa.sack_perm:
        parts.append("SACK permitted (it can report blocks that arrived after a gap, so only the gap is "
                     "re-sent, RFC 2018)")
    if pa.tsval is not None:
        parts.append("timestamps (each segment carries a clock value the peer echoes back: RTT "
                     "samples and protection against old sequence numbers, RFC 7323)")
    if not parts:
        return "No options."
    return "Options: " + "; ".join(parts) + "."


def step_label(pa: PacketAnalysis) -> str:
    """A short name for the packet's role: "SYN 1/3", "SYN-ACK 2/3", "ACK 3/3", "FIN", "RST", "data", "ACK"."""
    flags = pa.segment.flags
    if pa.segment.proto == "udp":
        return "datagram"
    if pa.handshake_step == 1:
        return "SYN 1/3"
    if pa.handshake_step == 2:
        return "SYN-ACK 2/3"
    if flags & RST:
        return "RST"
    if pa.handshake_step == 3:
        return "ACK 3/3"
    if flags & FIN:
        return "FIN"
    if pa.segment.length and "keep_alive" not in pa.flags:
        return "data"
    return "ACK" if flags & ACK else "".join(letter for letter, bit in (("S", SYN), ("F", FIN)) if flags & bit)


def retransmission_text(retx: Retransmission) -> str:
    """Why the segment was most likely sent again, with the packets that show it."""
    first = (f" (first sent in frame {retx.original_frame}, {format_duration(retx.since_original)} earlier)"
             if retx.original_frame is not None else " (the capture never saw its first copy)")
    silence = format_duration(retx.silence)
    rto = format_duration(retx.rto_estimate)
    cause = retx.cause
    if cause == "tail_loss_probe":
        text = (f"Most likely a tail loss probe{first}: no ACK came for {silence} after the sender's last "
                "segment, so Linux re-sent that last segment to draw an ACK, instead of waiting for the "
                f"retransmission timer (about {rto} here): RACK-TLP, RFC 8985 section 7, with a probe "
                "timeout of about two round trips. On loopback this usually means nothing was lost: the "
                "receiver was delaying its ACK for a lone segment (Linux waits 40 ms at least, hoping to "
                "send it with data), and the probe fired first.")
    elif cause == "rto":
        backoff = (f" This is timeout number {retx.timeouts + 1} for these bytes: the timer doubles "
                   "after each one (exponential backoff)." if retx.timeouts else "")
        single = (" (With only this segment in flight, Linux's tail loss probe would have waited about "
                  "as long, so it may also be that probe.)" if retx.single_in_flight else "")
        text = (f"Most likely a timeout{first}: {silence} without any packet, the retransmission timer "
                f"(RTO, RFC 6298; Linux: SRTT + max(4 x RTTVAR, 200 ms), about {rto} here) expired and the "
                "sender re-sent its oldest unacknowledged bytes. After a timeout Linux shrinks its congestion "
                "window to one segment and starts again in slow start." + backoff + single)
    elif cause == "rto_recovery":
        text = (f"Re-sent during the recovery that follows the timeout of frame {retx.evidence_frame}{first}: "
                "after a timeout Linux considers every segment still in flight lost and re-sends them as "
                "ACKs come back, one more each time the window grows (slow start).")
    elif cause == "fast_retransmit":
        if retx.evidence == "sack" and retx.evidence_frame is not None:
            why = (f"the receiver's SACK in frame {retx.evidence_frame} reported bytes after these as "
                   "received, while these were still missing")
        else:
            where = f" (frame {retx.evidence_frame})" if retx.evidence_frame is not None else ""
            why = f"duplicate ACKs{where} kept asking for these bytes"
        text = (f"A fast retransmission{first}: {why}, so the sender re-sent them at once, without waiting "
                "for the timer. Linux marks a segment lost as soon as one sent after it is SACKed and a short "
                "reordering window has passed (RACK, RFC 8985); the textbook rule, three duplicate ACKs "
                "(RFC 5681), is the older form of the same idea.")
    elif cause == "already_acked":
        acked = f" frame {retx.evidence_frame}" if retx.evidence_frame is not None else " an earlier ACK"
        timer = (f" It came after {silence} of silence: the sender's timer expired, so that ACK never "
                 "reached it (lost after the capture point, where this capture cannot see) or came too late."
                 if retx.timer_expired else
                 " The sender had not yet seen that ACK when it re-sent them.")
        text = f"Sent again{first} although{acked} had already acknowledged these bytes.{timer}"
    elif cause == "first_copy_unseen":
        text = ("The capture never saw these bytes before: their first copy was missed by the capture, or "
                "segments were reordered on the way.")
    else:
        text = f"Sent again{first}; the capture does not show why."
    if retx.spurious_by:
        text += " " + spurious_text(retx)
    return text


def spurious_text(retx: Retransmission) -> str:
    """How a later ACK proves the copy was not needed."""
    how, frame = retx.spurious_by
    if how == "dsack":
        return (f"Frame {frame} proves it was not needed: its D-SACK block (RFC 2883) reports these bytes "
                "arrived twice.")
    return (f"Frame {frame} proves it was not needed: it acknowledges these bytes echoing the timestamp of "
            "the earlier copy (RFC 3522, the Eifel test), so the earlier copy had arrived.")


def _handshake_text(pa: PacketAnalysis, stream: Stream, topics: Topics) -> str:
    seg = pa.segment
    options = syn_options_text(pa, topics.seen("syn options", seg.number))
    if pa.handshake_step == 1:
        isn_at = topics.seen("isn", seg.number)
        isn = ISN_TEXT if isn_at is None else f"(How an ISN is chosen: frame {isn_at}.)"
        return (f"SYN 1/3: the client {endpoint_text(stream.client)} asks to open a connection to the "
                f"server {endpoint_text(stream.server)}. Its initial sequence number (ISN) is {seg.seq}, "
                f"shown as relative seq 0. Port {stream.client[1]} is an ephemeral port the client's OS "
                f"picked for this connection. {isn} {options}")
    if pa.handshake_step == 2:
        client = stream.flows.get(stream.client)
        scaling = ""
        if pa.wscale_shift is not None and client is not None and client.win_scale not in (-1, NO_SCALING):
            scaling = (f" Both SYNs carry a window scale, so from now on the client's window fields count in "
                       f"units of {1 << client.win_scale} bytes and the server's in units of "
                       f"{1 << min(pa.wscale_shift, 14)}.")
        return (f"SYN-ACK 2/3: the server accepts. It sends its own ISN {seg.seq} (relative 0) and ACK "
                f"{pa.ack}: the client's ISN + 1, because the SYN took one sequence number (a SYN carries no "
                f"data byte). {options}{scaling}")
    return (f"ACK 3/3: the client acknowledges the server's SYN (ACK {pa.ack} = server ISN + 1). Connection "
            "established: both sides may now send data. The client's connect() returned as soon as the "
            "SYN-ACK arrived; this ACK leaves at that moment.")


def _rst_text(pa: PacketAnalysis, stream: Stream) -> str:
    if pa.refused:
        return (f"RST: nothing listens on port {stream.server[1]}, so the server's kernel refuses the "
                "connection (the client's connect() fails with 'connection refused').")
    who = pa.role
    other = "server" if who == "client" else "client"
    sender = stream.flows[stream.client if who == "client" else stream.server]
    peer = stream.flows[stream.server if who == "client" else stream.client]
    if sender.fin:
        hint = (f" Here the {who} had already sent its FIN: it had closed its socket, so the bytes that "
                "arrived afterwards found nobody to read them.")
    elif peer.bytes:
        hint = (f" Here the {other} had sent data to the {who}: the most likely cause is that the {who}'s "
                "socket was closed with some of it unread.")
    else:
        hint = ""
    return (f"RST: the {who} aborts the connection. No more data flows either way and no FIN handshake "
            f"follows; the {other}'s recv() raises ConnectionResetError. {RST_CAUSES}{hint}")


def _fin_text(pa: PacketAnalysis) -> str:
    who = pa.role
    other = "server" if who == "client" else "client"
    if not pa.first_fin:
        return (f"FIN: the {who} has finished sending too. Each side closed its direction: an orderly close. "
                "The FIN takes one sequence number and carries no data.")
    return (f"FIN: the {who} has finished sending (it called close() or shutdown()): an orderly close of its "
            f"direction. The {other} can still send; its recv() will return b'' once it has read everything. "
            "The FIN takes one sequence number and carries no data.")


def _ack_text(pa: PacketAnalysis) -> str:
    who = pa.role
    other = "server" if who == "client" else "client"
    if pa.acks_peer_fin and pa.both_closed:
        return f"ACK: the {who} acknowledges the {other}'s FIN. The connection is closed."
    if pa.acks_peer_fin:
        return f"ACK: the {who} acknowledges the {other}'s FIN (ACK {pa.ack})."
    return (f"ACK: the {who} has received every byte from the {other} before relative seq {pa.ack}; it has "
            "nothing to send.")


def _measurements_text(pa: PacketAnalysis, rtt_ambiguous: bool = False) -> str:
    parts = []
    if pa.acks_frame is not None and not pa.handshake_step and pa.ack_rtt is not None:
        if rtt_ambiguous:
            parts.append(f"It acknowledges frame {pa.acks_frame}, {format_duration(pa.ack_rtt)} after that was "
                         "captured, but that is no round-trip time: it also covers bytes that were sent again, "
                         "and it had to wait for them (Karn's rule, RFC 6298 section 3, leaves such samples out).")
        else:
            parts.append(f"It acknowledges frame {pa.acks_frame}, {format_duration(pa.ack_rtt)} after that was "
                         "captured: one round-trip-time sample.")
    if pa.sack_le:
        blocks = [f"{le}-{re}" for le, re in zip(pa.sack_le, pa.sack_re)]
        if pa.dsack:
            parts.append(f"D-SACK {pa.dsack[0]}-{pa.dsack[1]}: these bytes arrived twice (RFC 2883).")
            blocks = blocks[1:]
        if blocks:
            parts.append(f"SACK {', '.join(blocks)}: these bytes arrived too, after a gap, so the sender "
                         "need only re-send the gap (RFC 2018).")
    return " ".join(parts)


def explain(pa: PacketAnalysis, stream: Stream, chat_meaning: str = "",
            retx: Retransmission | None = None, topics: Topics | None = None, rtt_ambiguous: bool = False) -> str:
    """The sentence a student reads for one TCP packet.

    ``chat_meaning``: what the chat lines it carries mean (from chatlines);
    ``retx``: its retransmission record; ``topics``: what was explained in
    full already (the ISN, the SYN options, PSH, an unknown window scale);
    ``rtt_ambiguous``: its ack_rtt covers re-sent bytes (Karn's rule).
    """
    topics = topics if topics is not None else Topics()
    seg = pa.segment
    flags = seg.flags
    parts: list[str] = []
    if pa.handshake_step in (1, 2):
        parts.append(_handshake_text(pa, stream, topics))
    elif flags & RST:
        parts.append(_rst_text(pa, stream))
    elif pa.handshake_step == 3:
        parts.append(_handshake_text(pa, stream, topics))
    if flags & FIN and not flags & RST:
        parts.append(_fin_text(pa))
    data = seg.length and "keep_alive" not in pa.flags
    if data:
        end = (pa.seq + seg.length) & 0xFFFFFFFF
        what = chat_meaning or "binary data"
        parts.append(f"Data: the {pa.role} sends {seg.length} bytes (relative seq {pa.seq} to {end}): {what}.")
        receiver = stream.flows.get(stream.server if pa.role == "client" else stream.client)
        if (receiver is not None and receiver.mss and seg.length > receiver.mss
                and topics.seen(("bigger than mss", pa.stream), seg.number) is None):
            parts.append(f"That is more than the MSS of {receiver.mss} bytes the receiver announced: the capture "
                         "was taken on the sending host, before the network device (or the kernel's GSO) cut "
                         "this block into segments of at most the MSS; the wire carried several.")
    elif not parts and flags & ACK and not pa.flags:
        parts.append(_ack_text(pa))
    measured = _measurements_text(pa, rtt_ambiguous)
    if measured:
        parts.append(measured)
    labels = [name for name in RETRANSMISSION_FLAGS if name in pa.flags]
    if retx is not None:
        parts.append(f"{TSHARK_LABELS[labels[0] if labels else 'retransmission']} (tshark's label). "
                     + retransmission_text(retx))
    for name in pa.flags:
        # One sentence for a re-sent segment: the cause, or tshark's most specific label.
        if name in RETRANSMISSION_FLAGS and (retx is not None or name != labels[0]):
            continue
        parts.append(ANALYSIS_TEXT[name])
    if pa.scale_unknown and topics.seen(("unknown scale", pa.stream), seg.number) is None:
        parts.append(f"Window {seg.window}: the capture started after the SYNs, so the window scale is unknown "
                     "and, like tshark, the lab shows the raw field; the real window is this number times "
                     "2^shift bytes.")
    if flags & PSH and seg.length and topics.seen("psh", seg.number) is None:
        parts.append(PSH_TEXT)
    return " ".join(parts)


def explain_udp(role: str, length: int, chat_meaning: str) -> str:
    """The sentence for one UDP datagram."""
    return (f"UDP datagram: the {role} sends {length} bytes: {chat_meaning}. No connection, no ACK: if this "
            "datagram is lost, nothing sends it again.")

"""A hand-made connection read back from its capture: the first wrong number, explained (sans-I/O).

The graders of exercise 11 capture the student's connection and hand the
segments here.  :func:`diagnose` replays them in capture order, keeping what a
correct client would have sent next (its SND.NXT and the server's bytes it
has received), and compares each of the client's segments with it.  Numbers
are given relative to each side's ISN, the way Wireshark shows them, so a
message reads "your ACK number was ISN+0, expected ISN+1".

What it checks, in order:

* a SYN was sent; the server answered it (SYN-ACK, or RST: nothing listens);
* every later segment of the client has ``seq`` = its next sequence number
  (the SYN and every data byte and the FIN each consume one) and carries
  ACK with ``ack`` no further than what the server really sent;
* the data segment that answers the server's hello line (the name) and
  the one after its welcome line (the chat line) acknowledge all of that
  line: the client has read it, so its ACK must count every byte of it;
* the handshake's third segment acknowledges the server's SYN (ISN + 1);
* the server never reset the connection;
* by the end, everything the server sent was acknowledged (its FIN
  included: acknowledged with its sequence number + 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.capture.decode import ACK, FIN, RST, SYN, Segment
from lab.craft.tcb import seq_add, seq_diff


@dataclass
class Verdict:
    """What :func:`diagnose` found: ``problems`` (most important first) and the story of the segments."""

    problems: list[str] = field(default_factory=list)
    story: list[str] = field(default_factory=list)
    isn: int | None = None
    server_isn: int | None = None
    server_reset: bool = False
    closed: bool = False   # both FINs sent and acknowledged

    @property
    def ok(self) -> bool:
        """True when no problem was found: every number of the hand-made connection was right."""
        return not self.problems

    def explain(self) -> str:
        """The problems, then the segments in relative numbers (for a failure message)."""
        lines = list(self.problems) or ["every number was right"]
        lines.append("The segments, as captured on your host (numbers relative to each side's ISN):")
        lines += [f"  {row}" for row in self.story] or ["  (none)"]
        return "\n".join(lines)


def _flags(seg: Segment) -> str:
    from lab.capture.decode import flag_letters
    from lab.craft.tcb import scapy_letters

    return scapy_letters(flag_letters(seg.flags))


def _rel(n: int, base: int | None) -> str:
    if base is None:
        return str(n)
    d = seq_diff(n, base)
    return f"ISN{d:+d}"


def _row(seg: Segment, from_client: bool, verdict: Verdict) -> str:
    """One segment of the story, its numbers relative to the ISN of the side they count."""
    mine, theirs = (verdict.isn, verdict.server_isn) if from_client else (verdict.server_isn, verdict.isn)
    row = f"{'you   ' if from_client else 'server'} [{_flags(seg)}] seq={_rel(seg.seq, mine)}"
    if seg.flags & ACK:
        row += f" ack={_rel(seg.ack, theirs)}"
    if seg.length:
        row += f" len={seg.length} {seg.payload[:40]!r}"
    return row


def _reaction(verdict: Verdict, later: list[Segment], server: tuple[str, int]) -> None:
    """Put what the server did next in front of the client's first mistake."""
    answer = next((s for s in later if (s.src, s.sport) == server), None)
    if answer is None:
        said = "the server did not answer"
    elif answer.flags & RST:
        verdict.server_reset = True
        said = "the server answered with RST"
    elif answer.flags & ACK and verdict.isn is not None:
        said = (f"the server answered with ACK {_rel(answer.ack, verdict.isn)} (the number it still "
                "expects from you)")
    else:
        said = "the server answered"
    verdict.problems[0] = f"{said}: {verdict.problems[0]}"
    verdict.story += [_row(seg, (seg.src, seg.sport) != server, verdict) for seg in later]


def diagnose(segments: list[Segment], client: tuple[str, int], server: tuple[str, int]) -> Verdict:
    """Check the client's side of one hand-made connection (see the module docstring)."""
    verdict = Verdict()
    mine = [s for s in segments if s.proto == "tcp" and {(s.src, s.sport), (s.dst, s.dport)} == {client, server}]
    snd_nxt = None          # the client's next sequence number, if it is right
    server_end = None       # the server's next sequence number (what a full ACK carries)
    server_fin = None       # the server's FIN's sequence number
    handshake_done = False
    highest_ack = None
    last_server_data = None
    client_fin_acked = False
    client_fin_seq = None
    answered = None          # (end, "hello"|"welcome"): the server line the client's next data answers
    for index, seg in enumerate(mine):
        from_client = (seg.src, seg.sport) == client
        flags = _flags(seg)
        verdict.story.append(_row(seg, from_client, verdict))
        if from_client:
            if seg.flags & SYN:
                if verdict.isn is None:
                    verdict.isn, snd_nxt = seg.seq, seq_add(seg.seq, 1)
                continue
            if verdict.isn is None:
                verdict.problems.append(f"your first segment was [{flags}], not a SYN: a connection opens with a SYN")
                break
            what = (f"your segment carrying {seg.payload[:30]!r}" if seg.length else
                    "your FIN" if seg.flags & FIN else "your RST" if seg.flags & RST else f"your [{flags}] segment")
            if seg.seq != snd_nxt:
                why = ("the SYN consumed one sequence number" if seq_diff(snd_nxt, verdict.isn) == 1 else
                       "each byte you sent before, and the SYN, consumed one sequence number")
                verdict.problems.append(f"{what} had seq = your ISN{seq_diff(seg.seq, verdict.isn):+d}, expected "
                                        f"ISN{seq_diff(snd_nxt, verdict.isn):+d}: {why}")
                break
            if server_end is not None and not seg.flags & RST:
                if not seg.flags & ACK:
                    verdict.problems.append(f"{what} has no ACK flag: after the SYN every segment carries ACK")
                    break
                if not handshake_done and seg.ack != server_end:
                    verdict.problems.append(
                        f"your ACK number was ISN{seq_diff(seg.ack, verdict.server_isn):+d}, expected ISN+1: "
                        f"the third segment of the handshake acknowledges the server's SYN (its ISN "
                        f"{verdict.server_isn}), and a SYN counts as one")
                    break
                got = seq_diff(seg.ack, verdict.server_isn)
                if seq_diff(seg.ack, server_end) > 0:
                    verdict.problems.append(
                        f"{what} had ack = the server's ISN{got:+d}, but the server had sent only up to "
                        f"ISN{seq_diff(server_end, verdict.server_isn):+d}")
                    break
                if seg.length and answered is not None and seq_diff(seg.ack, answered[0]) < 0:
                    verdict.problems.append(
                        f"{what} had ack = the server's ISN{got:+d}, but it answers the server's {answered[1]} "
                        f"line, which ended at ISN{seq_diff(answered[0], verdict.server_isn):+d}: the ACK number "
                        "is the next byte expected, so every byte received counts")
                    break
                if seg.length:
                    answered = None
                handshake_done = True
                highest_ack = seg.ack if highest_ack is None or seq_diff(seg.ack, highest_ack) > 0 else highest_ack
            if seg.flags & FIN:
                client_fin_seq = seg.seq
            snd_nxt = seq_add(seg.seq, seg.length + (1 if seg.flags & FIN else 0))
        else:
            if seg.flags & RST:
                verdict.server_reset = True
                before = next((r for r in reversed(verdict.story[:-1]) if r.startswith("you")), "your SYN")
                verdict.problems.append(f"the server answered with RST after: {before.strip()}")
                break
            if seg.flags & SYN:
                verdict.server_isn = seg.seq
                server_end = seq_add(seg.seq, 1)
                continue
            if server_end is None:
                continue
            end = seq_add(seg.seq, seg.length + (1 if seg.flags & FIN else 0))
            if seq_diff(end, server_end) > 0:
                server_end = end
            if seg.length:
                last_server_data = seg
                for word in ("hello", "welcome"):
                    if f"--- {word}:".encode() in seg.payload:
                        answered = (end, word)  # the client's next data answers this line
            if seg.flags & FIN:
                server_fin = seg.seq
            if client_fin_seq is not None and seg.flags & ACK and seq_diff(seg.ack, client_fin_seq) >= 1:
                client_fin_acked = True
    if verdict.problems:
        if not verdict.server_reset:
            _reaction(verdict, mine[index + 1:], server)
        return verdict
    if verdict.isn is None:
        verdict.problems.append(f"no SYN from {client[0]}:{client[1]} was captured: nothing was sent from that port")
    elif verdict.server_isn is None:
        verdict.problems.append("the server never answered your SYN (no SYN-ACK was captured)")
    elif not handshake_done:
        verdict.problems.append("the SYN-ACK was never acknowledged: the handshake's third segment (ACK) is missing")
    elif highest_ack is not None and seq_diff(server_end, highest_ack) > 0:
        if server_fin is not None and seq_diff(server_end, highest_ack) == 1 and highest_ack == server_fin:
            verdict.problems.append(
                f"your last ACK was ack = ISN{seq_diff(highest_ack, verdict.server_isn):+d}, expected "
                f"ISN{seq_diff(server_end, verdict.server_isn):+d}: the server's FIN counts as one sequence number")
        else:
            unacked = ("its last data " + repr(last_server_data.payload[:40])) if last_server_data else "its FIN"
            verdict.problems.append(
                f"the server's bytes up to ISN{seq_diff(server_end, verdict.server_isn):+d} were never all "
                f"acknowledged (your highest ACK: ISN{seq_diff(highest_ack, verdict.server_isn):+d}); "
                f"{unacked} is still waiting for your ACK")
    verdict.closed = (not verdict.problems and client_fin_acked and server_fin is not None)
    return verdict

"""Lesson 6 helpers: how TCP repaired each loss, read from the router's capture (sans-I/O).

The router's capture (lab.experiments.compare) holds every packet as it
*entered* the router, before the loss rule dropped some: every
transmission, the dropped ones included.  For each retransmission this
module finds what the receiver had said since the previous copy of those
bytes left:

* duplicate ACKs: ACKs repeating the number of the first missing byte,
  each sent because a later segment arrived (on Linux they carry SACK
  blocks naming what did arrive, RFC 2018);
* how long after the previous copy the retransmission left.

and names the repair after that:

* **SACK**: it left within 5 ms of a duplicate ACK.  The textbook rule
  (RFC 5681 "fast retransmit") waits for three duplicate ACKs; Linux marks
  a segment lost as soon as a segment sent after it is SACKed and a short
  reordering window has passed (RACK, RFC 8985).  The router saw fewer
  than three, so the sender cannot have seen more.
* **timer**: no duplicate ACK, and 200 ms or more since the previous copy:
  the retransmission timeout (RTO, RFC 6298; at least 200 ms on Linux,
  doubled after each timeout of the same data).  After a timeout the
  congestion window is one segment (RFC 5681), so nothing new is sent
  until that one retransmission is acknowledged.
* **probe**: no duplicate ACK, a few ms after the previous copy: a tail
  loss probe (TLP, RFC 8985) -- the last segment sent again when no ACK
  came back in about two round trips, to get an ACK (or a SACK) instead of
  waiting for the RTO.

A retransmission of bytes the receiver had already acknowledged is
*spurious*: the data had arrived, its ACK was lost on the way back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.capture.decode import ACK, FIN, SYN
from lab.notebook.claims import Claim

MOD = 1 << 32
SACK_REACTION_NS = 5_000_000  # a retransmission this soon after a duplicate ACK was caused by it
RTO_MIN_NS = 180_000_000      # Linux's minimum RTO is 200 ms; a little slack for the capture's clock


@dataclass(frozen=True)
class Resend:
    """One retransmitted segment, and what preceded it."""

    frame: int
    time_s: float            # seconds since the first packet of the capture
    flow: str                # "sender → server", "server → receiver"
    seq: int                 # relative to the flow's first sequence number
    length: int
    segments: int            # MSS-sized segments it carries (a GSO burst on the veth is one packet)
    attempt: int             # 2 = first retransmission of these bytes, 3 = second, ...
    waited_ms: float         # since the previous copy of these bytes left
    dupacks: int             # duplicate ACKs from the receiver since then
    sack: bool               # whether those carried SACK blocks
    spurious: bool           # the receiver had already acknowledged these bytes
    cause: str               # "SACK", "timer", "probe"


def _chat_names(segments) -> dict:
    """(ip, port) -> chat name, from the first line each client sent (its name), plus the server."""
    names: dict = {}
    for s in segments:
        if s.proto == "tcp" and s.length and (s.src, s.sport) not in names and s.dport < s.sport:
            first = s.payload.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            if first.isidentifier():
                names[(s.src, s.sport)] = first
                names.setdefault((s.dst, s.dport), "server")
    return names


def find_resends(segments) -> list[Resend]:
    """Every TCP retransmission of a capture (each packet once), classified (see the module docstring).

    A retransmission is a segment whose data (or SYN, FIN) starts below the
    highest sequence number already sent in its direction, a keep-alive
    probe excepted: the rule of lab.experiments.compare.count_retransmissions
    (a test keeps the two counts equal), which is Wireshark's with its
    "out-of-order" counted as what it is here, a retransmission.
    """
    names = _chat_names(segments)
    t0 = segments[0].ts_ns if segments else 0
    base: dict = {}
    highest: dict = {}
    sent_at: dict = {}     # flow -> list of (start, end, ts) of every copy sent
    acks: dict = {}        # flow of the data -> list of (ts, ack, has_sack, length) from the receiver
    mss: dict = {}
    out: list[Resend] = []
    for s in segments:
        if s.proto != "tcp":
            continue
        flow = (s.src, s.sport, s.dst, s.dport)
        back = (s.dst, s.dport, s.src, s.sport)
        if s.flags & SYN and s.mss:
            mss[back] = s.mss - 12  # the peer may send this much; 12 bytes of timestamp option on Linux
        if s.flags & ACK and back in base:
            acks.setdefault(back, []).append((s.ts_ns, (s.ack - base[back]) % MOD, "SACK" in s.options, s.length))
        consumed = s.length + (1 if s.flags & SYN else 0) + (1 if s.flags & FIN else 0)
        if not consumed:
            continue
        base.setdefault(flow, s.seq)
        start = (s.seq - base[flow]) % MOD
        end = start + consumed
        top = highest.get(flow)
        copies = sent_at.setdefault(flow, [])
        keepalive = s.length <= 1 and top is not None and start == top - 1 and not s.flags & (SYN | FIN)
        if top is not None and start < top and not keepalive:
            earlier = [c for c in copies if c[0] < end and start < c[1]]
            previous = max((c[2] for c in earlier), default=copies[-1][2])
            replies = [a for a in acks.get(flow, []) if a[0] > previous]
            dup = [a for a in replies if a[1] == start and a[3] == 0]
            spurious = any(a[1] >= end for a in acks.get(flow, []))
            waited = s.ts_ns - previous
            if dup and s.ts_ns - dup[-1][0] <= SACK_REACTION_NS:
                cause = "SACK"
            elif waited >= RTO_MIN_NS:
                cause = "timer"
            else:
                cause = "probe"
            who = f"{names.get((s.src, s.sport), s.src)} → {names.get((s.dst, s.dport), s.dst)}"
            out.append(Resend(s.number, (s.ts_ns - t0) / 1e9, who, start, s.length,
                              max(1, math.ceil(s.length / mss.get(flow, 1448))), len(earlier) + 1,
                              waited / 1e6, len(dup), any(a[2] for a in dup), spurious, cause))
        copies.append((start, end, s.ts_ns))
        highest[flow] = max(top or 0, end)
    return out


def show_repairs(resends: list[Resend], limit: int = 14) -> None:
    """The retransmissions, one row each (the first ``limit``), and a count per cause."""
    from lab.notebook.display import show, table

    rows = [{"time (s)": f"{r.time_s:.3f}", "flow": r.flow, "bytes (rel. seq)": f"{r.length} ({r.seq})",
             "copy": r.attempt, "waited": f"{r.waited_ms:.1f} ms",
             "dup ACKs before": f"{r.dupacks}{' (SACK)' if r.sack else ''}",
             "repaired by": r.cause + (", spurious" if r.spurious else "")} for r in resends[:limit]]
    counts = {cause: sum(r.cause == cause for r in resends) for cause in ("SACK", "timer", "probe")}
    title = (f"{len(resends)} retransmissions: {counts['SACK']} after a SACK, {counts['timer']} by the "
             f"timer, {counts['probe']} probes; {sum(r.spurious for r in resends)} spurious"
             + (f" (the first {limit} shown)" if len(resends) > limit else ""))
    show(table(rows, title))


def timer_chain(resends: list[Resend]) -> list[Resend]:
    """The longest run of timer retransmissions of the same bytes: the timer backing off (RFC 6298 5.5)."""
    chains: dict = {}
    for r in resends:
        if r.cause == "timer":
            chains.setdefault((r.flow, r.seq), []).append(r)
    return max(chains.values(), key=len, default=[])


def repair_claims(resends: list[Resend]) -> list[Claim]:
    """What lesson 6 says about how Linux repairs loss, checked on the router's capture."""
    fast = [r for r in resends if r.cause == "SACK" and r.dupacks < 3]
    by_count: dict[int, int] = {}
    for r in fast:
        by_count[r.dupacks] = by_count.get(r.dupacks, 0) + 1
    spread = ", ".join(f"{n} after {k} duplicate ACK{'s' if k != 1 else ''}" for k, n in sorted(by_count.items()))
    return [
        Claim("TCP resent what the router dropped", bool(resends), f"{len(resends)} retransmissions on the wire"),
        Claim("Linux resent lost data after fewer than three duplicate ACKs, not the textbook three",
              bool(fast), (f"{len(fast)} of {len(resends)} retransmissions left within 5 ms of a duplicate ACK"
                           f"{' with SACK blocks' if any(r.sack for r in fast) else ''}: {spread}")
              if fast else "no retransmission followed fewer than three duplicate ACKs"),
    ]

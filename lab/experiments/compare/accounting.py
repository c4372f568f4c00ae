"""Decisions and accounting of the TCP-vs-UDP experiment (sans-I/O).

The scripted messages and how to recognise them, what arrived of what was
sent, what UDP should deliver at a given loss, the seeded fate of each
datagram on the loopback relay (dropped, duplicated, delayed), and
retransmissions counted in a capture (TCP's, and the reliable UDP
transfer's).  No
sockets, no threads, no processes: the halves feed these with what they saw.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import NamedTuple

from lab.chat.limits import DEFAULT_PORT

PORT = DEFAULT_PORT
SENDER, RECEIVER = "sender", "receiver"


def message_text(index: int) -> str:
    """The text of scripted message ``index`` (1-based): recognisable, fixed size."""
    return f"m{index:05d} the quick brown fox jumps over the lazy dog"


_TEXT = re.compile(r"m(\d{5}) ")


def text_index(text: str) -> int | None:
    """The index of a scripted message from its text (as ``message_text`` made it), or None."""
    found = _TEXT.match(text)
    return int(found.group(1)) if found else None


def message_index(server_line: str) -> int | None:
    """The index of a scripted message in a server line (``<sender> m00042 ...``), or None."""
    _, said, text = server_line.partition(f"<{SENDER}> ")
    return text_index(text) if said else None


def percentiles(values: list[float]) -> dict:
    """p50, p90, p99 and max of ``values`` (nearest-rank method), None when empty."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": round(rank(0.50), 3), "p90": round(rank(0.90), 3), "p99": round(rank(0.99), 3),
            "max": round(ordered[-1], 3)}


class DeliveryAccount:
    """What arrived of what was sent: delivered, lost, duplicated, out of order, latency.

    ``sent(index, t)`` and ``arrived(index, t)`` take times in seconds from
    one clock; latency is the first arrival minus the send time, in ms.
    "out of order" counts messages that arrived after one with a higher index.
    """

    def __init__(self) -> None:
        self.send_times: dict[int, float] = {}
        self.first_arrival: dict[int, float] = {}
        self.duplicated = 0
        self.out_of_order = 0
        self._highest = 0

    def sent(self, index: int, t: float) -> None:
        """Message INDEX was sent at time T (seconds, the clock every arrival uses)."""
        self.send_times[index] = t

    def arrived(self, index: int, t: float) -> None:
        """Message INDEX arrived at time T: counted once (later copies are duplicates);
        out of order when a higher index arrived before it."""
        if index in self.first_arrival:
            self.duplicated += 1
            return
        self.first_arrival[index] = t
        if index < self._highest:
            self.out_of_order += 1
        self._highest = max(self._highest, index)

    @property
    def complete(self) -> bool:
        """Every message sent has arrived at least once (False before anything was sent)."""
        return bool(self.send_times) and set(self.send_times) <= set(self.first_arrival)

    def result(self) -> dict:
        """The row of the comparison: sent, delivered, lost, duplicated, out_of_order, and latency_ms
        (percentiles of the first arrivals)."""
        latencies = [(self.first_arrival[i] - t) * 1000 for i, t in self.send_times.items() if i in self.first_arrival]
        sent = len(self.send_times)
        delivered = len([i for i in self.first_arrival if i in self.send_times])
        return {"sent": sent, "delivered": delivered, "lost": sent - delivered, "duplicated": self.duplicated,
                "out_of_order": self.out_of_order, "latency_ms": percentiles(latencies)}


def tcp_in_flight(sent: int, arrived: set[int], hops: dict[str, dict | None]) -> dict | None:
    """The messages TCP still held when the receiver stopped waiting, with the evidence; None if none.

    TCP hands the byte stream over in order, so what a receiver got from a
    working connection is a *prefix*: messages 1..k, and k+1..SENT are
    still on their way, behind a segment that is being retransmitted.  That
    is claimed only when it is what the kernels show: ARRIVED is exactly
    1..k, and at least one hop (a name -> the TCP_INFO fields of its
    sending socket, as ``TcpInfo.to_dict()`` gives them) is ESTABLISHED
    with segments not yet acknowledged.  Otherwise the missing messages are
    lost for good (an application bug: TCP does not lose them) and this
    returns None.  The result: ``messages`` (how many), ``first`` (the
    first one missing) and ``hops``, each waiting hop's timer: ``backoff``
    (times the RTO was doubled), ``rto_ms``, ``unacked`` segments,
    ``retransmits`` (timeouts in a row) and ``total_retrans``.
    """
    if sent <= len(arrived) or arrived != set(range(1, len(arrived) + 1)):
        return None
    waiting = {name: {key: info[key] for key in ("state", "unacked", "backoff", "rto_ms", "retransmits",
                                                    "total_retrans", "ca_state")}
               for name, info in hops.items()
               if info and info["state"] == "ESTABLISHED" and info["unacked"] > 0}
    if not waiting:
        return None
    return {"messages": sent - len(arrived), "first": len(arrived) + 1, "hops": waiting}


def expected_udp_delivery(loss_percent: float, crossings: int = 2) -> float:
    """The share of UDP messages expected to arrive: (1 - p) ** crossings."""
    return (1 - loss_percent / 100) ** crossings


def binomial_bounds(n: int, p: float, sigmas: float = 6.0) -> tuple[int, int]:
    """An interval holding Binomial(n, p) except with negligible probability (normal approx.)."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return max(0, math.floor(mean - sigmas * sd)), min(n, math.ceil(mean + sigmas * sd))


@dataclass(frozen=True)
class Impairments:
    """What a lossy path does to datagrams, in percent of datagrams and in seconds.

    ``loss``: dropped; ``duplicate``: delivered twice; ``reorder``: held
    back ``reorder_delay`` seconds longer than the others, so the ones sent
    after them overtake them; ``delay``: the time every datagram takes to
    cross (one way).
    """

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    reorder_delay: float = 0.02

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name} is a percentage, 0 to 100, not {getattr(self, name)}")
        if self.delay < 0 or self.reorder_delay < 0:
            raise ValueError("delays are 0 s or more")


class Fate(NamedTuple):
    """What happens to one datagram: dropped, or delivered COPIES times after DELAY seconds."""

    dropped: bool
    copies: int
    delay: float


class PathDecision:
    """The fate of each datagram of one flow, seeded: the same seed gives the same fates, in the same order.

    ``flow`` names one direction of one client's traffic ("0:up"); each flow
    has its own generator, so the fates of a flow do not depend on how the
    threads happened to interleave the flows.  Every datagram draws the same
    three numbers whatever the settings, so a seed drops the same datagrams
    at 10 % loss with or without duplication and reordering.
    """

    def __init__(self, impairments: Impairments, seed: int | None, flow: str = ""):
        self.impairments = impairments
        self.rng = random.Random(f"{seed}:{flow}")
        self.decisions = self.drops = self.duplicates = self.reordered = 0

    def next(self) -> Fate:
        """The fate of the next datagram of this flow."""
        path = self.impairments
        lose, twice, late = self.rng.random() * 100, self.rng.random() * 100, self.rng.random() * 100
        self.decisions += 1
        if lose < path.loss:
            self.drops += 1
            return Fate(True, 0, 0.0)
        copies = 2 if twice < path.duplicate else 1
        self.duplicates += copies - 1
        delay = path.delay
        if late < path.reorder:
            self.reordered += 1
            delay += path.reorder_delay
        return Fate(False, copies, delay)


def count_retransmissions(segments) -> dict:
    """TCP retransmissions in a capture, the way Wireshark flags them (pure).

    A segment that carries data (or SYN/FIN) starting below the highest
    sequence number already seen in its direction is a retransmission;
    a one-byte keep-alive probe (seq = next - 1) is not.  Sequence numbers
    are compared relative to the first one seen per direction (they wrap at
    2**32).  Each packet must appear once in the capture (see DESIGN.md).
    """
    from lab.capture.decode import FIN, SYN

    highest: dict[tuple, int] = {}
    base: dict[tuple, int] = {}
    retrans = segments_with_data = 0
    by_flow: dict[str, int] = {}
    for seg in segments:
        if seg.proto != "tcp":
            continue
        flow = (seg.src, seg.sport, seg.dst, seg.dport)
        consumed = seg.length + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
        if consumed == 0:
            continue
        segments_with_data += 1
        if flow not in base:
            base[flow] = seg.seq
        rel = (seg.seq - base[flow]) % 2**32
        end = rel + consumed
        top = highest.get(flow)
        if top is not None and rel < top and not (seg.length <= 1 and rel == top - 1 and not seg.flags & (SYN | FIN)):
            retrans += 1
            key = f"{seg.src}:{seg.sport}->{seg.dst}:{seg.dport}"
            by_flow[key] = by_flow.get(key, 0) + 1
        highest[flow] = max(top or 0, end)
    return {"retransmissions": retrans, "segments_with_data": segments_with_data, "by_flow": by_flow}


def count_reliable_on_wire(segments, sender: str) -> dict:
    """The reliable UDP transfer in a capture: its datagrams and ACKs per flow, and retransmissions (pure).

    A SYN, DATA or FIN whose number was already seen in the same flow is a
    retransmission.  ``sender`` is the sending host's address: its flow is
    the first leg (sender -> forwarder), where the capture sees every copy
    the sender sent, so ``from_sender`` there equals the sender's own count;
    on the second leg (forwarder -> receiver) only the copies that survived
    the first crossing appear.  Datagrams of other formats are not counted.
    """
    from lab.udp.reliable import ACK, BYE, decode

    flows: dict[str, dict] = {}
    seen: dict[str, set] = {}
    for seg in segments:
        if seg.proto != "udp":
            continue
        got = decode(seg.payload)
        if got is None:
            continue
        key = f"{seg.src}:{seg.sport}->{seg.dst}:{seg.dport}"
        flow = flows.setdefault(key, {"datagrams": 0, "acks": 0, "retransmissions": 0, "src": seg.src})
        flow["datagrams"] += 1
        if got.kind == ACK:
            flow["acks"] += 1
        elif got.kind != BYE:
            numbers = seen.setdefault(key, set())
            if got.number in numbers:
                flow["retransmissions"] += 1
            numbers.add(got.number)
    return {"datagrams": sum(f["datagrams"] for f in flows.values()),
            "retransmissions_from_sender": sum(f["retransmissions"] for f in flows.values() if f["src"] == sender),
            "by_flow": {key: {k: v for k, v in f.items() if k != "src"} for key, f in flows.items()}}

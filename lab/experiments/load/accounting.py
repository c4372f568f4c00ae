"""Sans-I/O accounting for `chatlab load`: tokens, reach, duplicates, order, latency.

No sockets here: the worker processes feed the bytes they receive into a
:class:`Receiver` and the numbers come out; the unit tests feed it bytes by
hand.

Every chat line the load generator sends carries a *token*::

    ~L RUN SENDER SEQ SENT_NS [padding]

``RUN`` identifies one run of ``chatlab load`` (so lines of an earlier run,
replayed by the server as history, are ignored), ``SENDER`` is the sender's
number, ``SEQ`` counts its messages from 0, ``SENT_NS`` is ``time.time_ns()``
just before the ``send()``.  The receiver subtracts it from its own
``time.time_ns()`` when the line arrives.  CLOCK_REALTIME is one clock for
all processes of one machine, so the latency is exact when sender and
receiver run on the same machine (they always do: both are the load
generator).  Comparing timestamps taken on two machines would need their
clocks synchronised (PTP, or NTP to well under a millisecond).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.chat import wire

TOKEN_MARK = "~L"

# The one hot path that does not call lab.chat.wire.parse_server_line: a
# public chat line carrying a token, "HH:MM:SS <name> ~L RUN SENDER SEQ
# SENT_NS ...", found by one findall over a whole received chunk (in C, by
# `re`).  Measured (Python 3.11, 40 lines a chunk): 0.31 us a line, against
# 1.54 us to decode, split and parse each line with parse_server_line; at the
# goal load of 100,000 deliveries/s that is 0.03 instead of 0.15 of a core,
# taken from the server on a 2-core machine.  The pattern accepts only lines
# that parse_server_line reads as public messages whose text starts with
# the token (tests/experiments/test_load_accounting.py checks it on samples).
_TOKEN_LINE = re.compile(rb"\d\d:\d\d:\d\d <[^ \r\n]+> ~L ([0-9a-z]+) (\d+) (\d+) (\d+)[^\r\n]*\r?\n")


def make_message(run: str, sender: int, seq: int, sent_ns: int, size: int = 0) -> bytes:
    """The chat line (with its LF) a sender sends, padded with dots to ``size`` bytes."""
    line = f"{TOKEN_MARK} {run} {sender} {seq} {sent_ns}"
    if len(line) < size:
        line += " " + "." * (size - len(line) - 1)
    return (line + "\n").encode("ascii")


# -- latency histogram ----------------------------------------------------
#
# Keeping every latency of a 30 s run at 100,000 deliveries/s would take
# millions of Python ints.  A histogram with buckets whose width grows with
# the value keeps percentiles to better than 5 % of the value.


def bucket_of(us: int) -> int:
    """The bucket (its upper bound, in microseconds) of a latency in microseconds."""
    if us < 1_000:
        step = 10
    elif us < 10_000:
        step = 100
    elif us < 100_000:
        step = 1_000
    else:
        step = 10_000
    return (us // step + 1) * step


@dataclass
class Histogram:
    """Latencies in microseconds: counts per bucket, plus the exact maximum."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    max_us: int = 0

    def add(self, us: int) -> None:
        """Record one latency (negative values, from a clock step, count as 0)."""
        if us < 0:
            us = 0
        key = (us // 10 + 1) * 10 if us < 1_000 else bucket_of(us)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total += 1
        if us > self.max_us:
            self.max_us = us

    def merge(self, other: "Histogram") -> None:
        """Add another histogram's counts to this one."""
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.total += other.total
        self.max_us = max(self.max_us, other.max_us)

    def percentile(self, p: float) -> int | None:
        """The upper bound of the bucket holding the p-th percentile (0 < p <= 100)."""
        if self.total == 0:
            return None
        rank = max(1, -(-self.total * p // 100))  # ceil(total * p / 100)
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                return min(key, self.max_us)  # the exact maximum is a tighter bound
        return self.max_us

    def to_dict(self) -> dict:
        """The histogram as JSON values (a worker sends it to the runner this way)."""
        return {"counts": {str(k): v for k, v in self.counts.items()}, "total": self.total, "max_us": self.max_us}

    @classmethod
    def from_dict(cls, data: dict) -> "Histogram":
        """The histogram that ``to_dict`` wrote."""
        return cls({int(k): v for k, v in data["counts"].items()}, data["total"], data["max_us"])


# -- one receiving client ---------------------------------------------------


@dataclass
class Receiver:
    """What one client received: unique messages, duplicates, order, latency.

    Order per sender is tracked with the next expected sequence number and
    the set of numbers skipped so far: a number below ``next`` that is in
    the skipped set arrived late (out of order), one that is not was seen
    before (a duplicate).  That is exact and needs memory only for gaps.
    """

    run: str
    counting: bool = False  # tokens are counted only inside the measurement window
    # False: count reach, duplicates and order but no latency (a client read in
    # bulk, whose ``now_ns`` is only when a sweep found the bytes)
    timed: bool = True
    unique: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    foreign: int = 0  # tokens of another run (history replayed by the server)
    outside: int = 0  # tokens of this run received while not counting
    latency: Histogram = field(default_factory=Histogram)
    left: list[tuple[str, str]] = field(default_factory=list)  # (name, reason) of "*** NAME left (...)"
    # optional, shared by the receivers of a worker: second -> [deliveries, max latency us]
    timeline: dict[int, list[int]] | None = None
    _next: dict[int, int] = field(default_factory=dict)
    _gaps: dict[int, set[int]] = field(default_factory=dict)
    _tail: bytes = b""

    def __post_init__(self) -> None:
        self._run_bytes = self.run.encode()

    def feed(self, data: bytes, now_ns: int) -> int:
        """Account for a chunk of received bytes; return the number of tokens in it."""
        # This runs ~100,000 times a second at the goal load: kept lean on purpose.
        if self._tail:
            data = self._tail + data
            self._tail = b""
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            self._tail, data = data[cut:], data[:cut]
            if len(self._tail) > 65536:  # a server that never ends its lines: do not grow without bound
                self._tail = b""
            if not data:
                return 0
        found = 0
        run = self._run_bytes
        latency = self.latency
        nxt = self._next
        timeline = self.timeline
        timed = self.timed
        second = now_ns // 1_000_000_000
        for m_run, m_sender, m_seq, m_sent in _TOKEN_LINE.findall(data):
            found += 1
            if m_run != run:
                self.foreign += 1
                continue
            if not self.counting:
                self.outside += 1
                continue
            sender, seq = int(m_sender), int(m_seq)
            if nxt.get(sender, 0) == seq:  # the common case: the next one in order
                nxt[sender] = seq + 1
                self.unique += 1
            else:
                self._count(sender, seq)
            if timeline is not None:
                entry = timeline.get(second)
                if entry is None:
                    entry = timeline[second] = [0, 0]
                entry[0] += 1
            if not timed:
                continue
            us = (now_ns - int(m_sent)) // 1000
            latency.add(us)
            if timeline is not None and us > entry[1]:
                entry[1] = us
        if b"***" in data:  # rare: leave events are read by the one parser
            for raw in data.split(b"\n"):
                if b"***" in raw:
                    event = wire.parse_server_line(raw.decode("utf-8", "replace"))
                    if event is not None and event.kind == "event" and event.code == "left":
                        self.left.append((event.name, event.text))
        return found

    def _count(self, sender: int, seq: int) -> None:
        expected = self._next.get(sender, 0)
        if seq == expected:
            self._next[sender] = seq + 1
            self.unique += 1
        elif seq > expected:
            self._gaps.setdefault(sender, set()).update(range(expected, seq))
            self._next[sender] = seq + 1
            self.unique += 1
        else:
            gaps = self._gaps.get(sender)
            if gaps is not None and seq in gaps:
                gaps.discard(seq)
                self.out_of_order += 1
                self.unique += 1
            else:
                self.duplicates += 1


# -- the whole run -----------------------------------------------------------


@dataclass
class ReceiverResult:
    """One receiver's numbers, as a worker process reports them."""

    index: int
    unique: int
    duplicates: int
    out_of_order: int
    connected_throughout: bool  # False if the server closed it during the run


def reach(results: list[ReceiverResult], sent: dict[int, int], sender_of: dict[int, int]) -> dict:
    """Reach: delivered / expected, over every receiver present when sending began.

    ``sent`` maps sender number -> messages it sent; ``sender_of`` maps
    client index -> sender number for the clients that send (a sender does
    not receive its own public messages, so they are not expected).
    """
    total_sent = sum(sent.values())
    delivered = expected = 0
    incomplete = 0
    worst = None
    for r in results:
        own = sent.get(sender_of[r.index], 0) if r.index in sender_of else 0
        want = total_sent - own
        expected += want
        delivered += min(r.unique, want)
        share = r.unique / want if want else 1.0
        if share < 1.0:
            incomplete += 1
        worst = share if worst is None else min(worst, share)
    return {
        "expected": expected,
        "delivered": delivered,
        "reach": delivered / expected if expected else None,
        "receivers": len(results),
        "receivers_incomplete": incomplete,
        "worst_receiver_reach": worst,
        "duplicates": sum(r.duplicates for r in results),
        "out_of_order": sum(r.out_of_order for r in results),
    }


# -- what a stalled client did to the room --------------------------------------------


def stall_verdict(stalled: dict, timeline: list[dict], duration: float, reach_share: float | None) -> dict | None:
    """What the stalled clients did to the server, from the report's numbers; None without stalled clients.

    ``stalled``: the report's stalled section (``registered``, ``dropped``
    as (name, reason) pairs, ``names``); ``timeline``: deliveries per second
    of sending (seconds with none are absent); ``duration``: seconds of
    sending.  The state is one of:

    * ``frozen``: no stalled client was dropped, some messages never
      arrived, and deliveries stopped for good at least a second before the
      senders stopped: the server stopped delivering to *everybody* because
      one client stopped reading;
    * ``dropped``: the server dropped every stalled client and everyone else
      received every message (what a server should do);
    * ``absorbing``: nobody missed anything and no stalled client was dropped
      yet: the server (or its kernel) still buffers their backlog;
    * ``degraded``: anything else (some messages lost, no clear freeze).

    >>> stall_verdict({"registered": 1, "dropped": [], "names": ["S1"]},
    ...               [{"t": 0, "deliveries": 9}, {"t": 2, "deliveries": 3}], 10, 0.3)["state"]
    'frozen'
    """
    if not stalled.get("registered"):
        return None
    dropped = {name for name, _ in stalled.get("dropped", [])}
    kept = [name for name in stalled.get("names", []) if name not in dropped]
    active = [entry["t"] for entry in timeline if entry["deliveries"] and entry["t"] < duration]
    last = max(active) if active else None
    complete = reach_share is not None and reach_share >= 1.0
    if kept and not complete and (last is None or last + 1 < duration):
        state = "frozen"
    elif not kept and complete:
        state = "dropped"
    elif kept and complete:
        state = "absorbing"
    else:
        state = "degraded"
    return {"state": state, "last_delivery_second": last, "kept": kept, "dropped": sorted(dropped)}

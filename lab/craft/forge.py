"""Forging a reset: the sequence numbers an attacker needs, read from a capture (sans-I/O).

A TCP receiver accepts a reset only if it belongs to the connection: the
4-tuple must match and the RST's sequence number must fall where the
receiver expects data.  RFC 9293 (3.10.7.4) accepted any RST *inside the
receive window*; since RFC 5961 (3.2), which Linux follows, only an RST whose
sequence number is *exactly* ``RCV.NXT`` resets the connection.  For an RST
inside the window but not exact, the receiver sends a *challenge ACK* (an
ACK with its current numbers): the real peer, which did not send that RST,
ignores the ACK, and a real peer that did send it (it had lost its state)
answers with an RST at the exact number.  An RST outside the window is
dropped without a word.

So an attacker who can *see* the connection (on the path: the same Wi-Fi,
a router) reads the exact number off the wire and ends the connection with
one packet.  An attacker who cannot see it must guess a 32-bit number: that
is why initial sequence numbers are unpredictable (RFC 6528: a clock plus a
keyed hash of the 4-tuple, so no pattern can be learnt from other
connections).  TLS does not help: it protects the bytes inside TCP, but the
RST is a TCP header, handled by the kernel before any TLS record is read.

>>> from lab.craft.tcb import Seen
>>> observed = [(("10.77.1.2", 40000), Seen("PA", seq=100, ack=900, payload=b"hi\\r\\n", window=502)),
...             (("10.77.0.2", 5050), Seen("A", seq=900, ack=104, window=509))]
>>> plan = reset_plan(observed, ("10.77.1.2", 40000))
>>> plan.exact, plan.in_window, plan.outside
(104, 358, 1073741928)
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.craft.tcb import Seen, consumed, seq_add, seq_diff

# The largest window TCP can advertise is 65535 << 14 (RFC 7323, 2.3), just
# under 2**30: a number 2**30 ahead of RCV.NXT is outside every window.
OUTSIDE_OFFSET = 2**30

RESET_KINDS = ("outside", "in_window", "exact")

ANSWERS = {
    "exact": "reset: the connection is aborted (seq == RCV.NXT, RFC 5961 3.2)",
    "in_window": "a challenge ACK (RFC 5961 3.2): in the window but not exact, so the receiver asks "
                 "the real peer; the connection goes on",
    "outside": "nothing: outside the receive window, the RST is dropped silently (RFC 5961 3.2)",
}


@dataclass(frozen=True)
class ResetPlan:
    """Three RSTs against one direction of a connection, from what was seen of it.

    ``exact`` is the receiver's RCV.NXT (the victim's next sequence number);
    ``in_window`` is ``exact`` plus half the window the receiver last
    advertised (the raw 16-bit field: the true, scaled window is at least
    that large); ``outside`` is ``exact + 2**30``.
    """

    victim: tuple[str, int]
    receiver: tuple[str, int]
    exact: int
    window_field: int

    @property
    def in_window(self) -> int:
        """The sequence number of an RST inside the receive window but not exact (RFC 5961: a challenge ACK)."""
        return seq_add(self.exact, max(1, self.window_field // 2))

    @property
    def outside(self) -> int:
        """The sequence number of an RST far outside the receive window (dropped silently)."""
        return seq_add(self.exact, OUTSIDE_OFFSET)

    def seq(self, kind: str) -> int:
        """The sequence number of the RST of ``kind`` ("outside", "in_window", "exact")."""
        if kind not in RESET_KINDS:
            raise ValueError(f"kind must be one of {', '.join(RESET_KINDS)}, not {kind!r}")
        return getattr(self, kind)


def next_seq(observed: list[tuple[tuple[str, int], Seen]], sender: tuple[str, int]) -> int | None:
    """The sequence number ``sender`` will use next, from what was seen of its connection.

    The furthest end (``seq`` + data + SYN + FIN) of the sender's segments, or
    the other side's highest ACK if that is further (the capture may have
    missed a segment the receiver got).  RSTs are left out: they carry no
    data, and their numbers may be forged (the attacker's own among them).
    None if nothing tells.
    """
    best: int | None = None
    for source, seg in observed:
        if "R" in seg.flags:
            continue
        if source == sender:
            candidate = seq_add(seg.seq, consumed(seg.flags, len(seg.payload)))
        elif "A" in seg.flags:
            candidate = seg.ack
        else:
            continue
        if best is None or seq_diff(candidate, best) > 0:
            best = candidate
    return best


def reset_plan(observed: list[tuple[tuple[str, int], Seen]], victim: tuple[str, int]) -> ResetPlan:
    """The RSTs that pretend to come from ``victim``, sent to the other end of its connection.

    ``observed`` is the connection as the attacker saw it: (source address,
    segment) pairs in capture order.
    """
    others = {source for source, _ in observed if source != victim}
    if len(others) != 1:
        raise ValueError(f"expected the segments of one connection of {victim}, saw peers {sorted(others)}")
    receiver = others.pop()
    exact = next_seq(observed, victim)
    if exact is None:
        raise ValueError(f"nothing was seen from or acknowledged to {victim}: its next sequence number is unknown")
    windows = [seg.window for source, seg in observed if source == receiver]
    return ResetPlan(victim, receiver, exact, windows[-1] if windows else 0)


def classify(seq: int, rcv_nxt: int, window: int) -> str:
    """Where an RST's ``seq`` falls for a receiver at ``rcv_nxt`` with a ``window`` (scaled, in bytes).

    >>> classify(104, 104, 65000), classify(2104, 104, 65000), classify(104 + 2**30, 104, 65000)
    ('exact', 'in_window', 'outside')
    """
    if seq == rcv_nxt:
        return "exact"
    offset = seq_diff(seq, rcv_nxt)
    return "in_window" if 0 <= offset < window else "outside"

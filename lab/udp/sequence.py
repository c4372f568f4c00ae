"""Sequence accounting for the UDP chat (sans-I/O): ``SequenceTracker`` takes
the sequence numbers of one sender's datagrams as they arrive and counts the
lost, duplicated and reordered ones - what TCP would have repaired for us,
and UDP can only count.  No sockets, no threads.
"""

from __future__ import annotations


# --- sequence accounting (sans-I/O) -------------------------------------------

class SequenceTracker:
    """Count lost, duplicated and reordered datagrams from one sender.

    Numbers start at 1 and grow by one per datagram.  ``add(seq)`` returns
    ``"new"`` (first time, in order), ``"late"`` (first time, but a higher
    number came before it: out of order, no longer counted as lost) or
    ``"duplicate"`` (seen before).  ``lost`` is how many numbers below the
    highest seen have not arrived (yet: a late one makes it smaller).
    Memory is bounded: gaps further than ``window`` below the highest number
    are counted as lost for good.

    >>> tracker = SequenceTracker()
    >>> [tracker.add(n) for n in (1, 2, 4, 4, 3)]
    ['new', 'new', 'new', 'duplicate', 'late']
    >>> tracker.to_dict()
    {'received': 4, 'lost': 0, 'duplicated': 1, 'out_of_order': 1, 'highest': 4}
    """

    def __init__(self, window: int = 4096):
        self.window = window
        self.highest = 0
        self.received = 0  # distinct numbers seen
        self.duplicated = 0
        self.out_of_order = 0
        self._missing: set[int] = set()
        self._forgotten = 0  # gaps that left the window: lost for good
        self._seen_recent: set[int] = set()

    @property
    def lost(self) -> int:
        """Numbers below the highest seen that have not arrived (yet)."""
        return len(self._missing) + self._forgotten

    def add(self, seq: int) -> str:
        """Account for datagram number ``seq``; say what it was."""
        if seq < 1:
            raise ValueError("sequence numbers start at 1")
        if seq > self.highest:
            gap_start = max(self.highest + 1, seq - self.window)
            self._forgotten += gap_start - (self.highest + 1)
            self._missing.update(range(gap_start, seq))
            self.highest = seq
            self.received += 1
            self._seen_recent.add(seq)
            self._trim()
            return "new"
        if seq in self._missing:
            self._missing.discard(seq)
            self._seen_recent.add(seq)
            self.received += 1
            self.out_of_order += 1
            return "late"
        # Not missing and not above: seen before (or so old we forgot it,
        # which a window of 4096 makes a duplicate in practice).
        self.duplicated += 1
        return "duplicate"

    def _trim(self) -> None:
        floor = self.highest - self.window
        if len(self._seen_recent) > 2 * self.window:
            self._seen_recent = {s for s in self._seen_recent if s > floor}
        if self._missing and min(self._missing) <= floor:
            old = {s for s in self._missing if s <= floor}
            self._missing -= old
            self._forgotten += len(old)

    def to_dict(self) -> dict:
        """The counters, for reports and tests."""
        return {"received": self.received, "lost": self.lost, "duplicated": self.duplicated,
                "out_of_order": self.out_of_order, "highest": self.highest}

"""The kit's delay stage, the part that decides: hold, drop, reorder, duplicate (no I/O).

``lab.net.delay_stage`` reads IPv4 packets from a TUN device in the router
and writes them back; this module decides what happens to each one, with
the clock passed in, so tests drive it by hand:

* every packet is held for ``delay_ms`` (the one-way delay of the path);
* a packet is *lost* with probability ``loss`` %;
* a packet is *reordered* with probability ``reorder`` %: it is held an
  extra ``reorder_gap_ms``, so packets sent after it overtake it;
* a packet is *duplicated* with probability ``duplicate`` %: two copies
  leave at the same moment.

**Seeded.**  A *direction* is a (source address, destination address) pair.
Each direction has its own random generator, seeded from ``seed`` and the
two addresses, and every packet takes exactly three draws from it (loss,
reorder, duplicate) whatever happens to it.  So the fate of the n-th packet
of a direction depends only on the seed, the direction and n: the same seed
replays the same decisions, packet by packet, even when the timing of the
hosts differs (what cannot be replayed is the hosts themselves: when a
delayed ACK fires, how segments are cut, so the n-th packet of two runs may
carry different bytes).

Packets that are not reordered leave in the order they came (first in,
first out per direction, also when the delay is changed while packets are
held).  A packet counts as *reordered* only when it really leaves after a
later packet of its direction.
"""

from __future__ import annotations

import heapq
import random
import socket
from dataclasses import asdict, dataclass, field, replace

from lab.net.shaping import ShapingError as SettingsError, check_delay, check_percent


@dataclass(frozen=True)
class StageSettings:
    """What the stage does to every packet (percentages are 0-100)."""

    delay_ms: float = 0.0
    loss: int = 0
    reorder: int = 0
    reorder_gap_ms: float = 10.0
    duplicate: int = 0
    seed: int = 0
    max_held: int = 20_000  # packets held at once; beyond that the stage drops (counted), bounding memory

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            check_percent(name, getattr(self, name))
        check_delay("delay_ms", self.delay_ms)
        check_delay("reorder_gap_ms", self.reorder_gap_ms)
        if self.max_held < 1:
            raise SettingsError(f"max_held must be at least 1, not {self.max_held}")

    def to_dict(self) -> dict:
        """The settings as JSON values (how netlab passes them to the stage)."""
        return asdict(self)

    def changed(self, **changes) -> "StageSettings":
        """A copy with some settings changed (validated)."""
        unknown = set(changes) - set(self.to_dict())
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


def direction_of(packet: bytes) -> str | None:
    """``"SRC>DST"`` of an IPv4 packet, or None if ``packet`` is not IPv4."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    return f"{socket.inet_ntoa(packet[12:16])}>{socket.inet_ntoa(packet[16:20])}"


@dataclass(frozen=True)
class Fate:
    """What the stage decided for one packet."""

    direction: str | None
    index: int  # 0 for the first packet of its direction
    lost: bool
    reordered: bool  # held back by the reorder gap
    duplicated: bool
    leaves_at: float | None  # None when lost or the stage was full


@dataclass
class Counters:
    """What the stage did since it started (``chatlab netlab status`` shows these)."""

    received: int = 0
    forwarded: int = 0  # packets written back, duplicate copies included
    dropped_loss: int = 0
    dropped_full: int = 0
    reordered: int = 0  # packets that left after a later packet of their direction
    duplicated: int = 0
    not_ipv4: int = 0  # forwarded at once, no decision taken
    per_direction: dict = field(default_factory=dict)  # direction -> packets received

    def to_dict(self) -> dict:
        """The counters as JSON values (the stage's status reply)."""
        return asdict(self)


class DelayLine:
    """Packets in, the same packets out later (or never), decided by seeded draws."""

    def __init__(self, settings: StageSettings):
        self.settings = settings
        self.counters = Counters()
        self._rngs: dict[str, random.Random] = {}
        self._heap: list[tuple[float, int, bytes, str | None, int]] = []
        self._order = 0  # tie-break: equal leave times keep arrival order
        self._last_leave: dict[str | None, float] = {}
        self._max_released: dict[str | None, int] = {}

    @property
    def held(self) -> int:
        """Packets waiting now."""
        return len(self._heap)

    def _rng(self, direction: str) -> random.Random:
        rng = self._rngs.get(direction)
        if rng is None:
            # A str seed is hashed with SHA-512 by random.Random: the same in every process.
            rng = self._rngs[direction] = random.Random(f"chatlab-delay-stage/{self.settings.seed}/{direction}")
        return rng

    def reconfigure(self, settings: StageSettings) -> None:
        """New settings from now on; a new seed restarts every direction's draws from packet 0."""
        if settings.seed != self.settings.seed:
            self._rngs.clear()
            self.counters.per_direction.clear()
        self.settings = settings

    def arrive(self, packet: bytes, now: float) -> Fate:
        """A packet came in at ``now`` (seconds, any monotonic clock): decide and hold it."""
        s = self.settings
        self.counters.received += 1
        direction = direction_of(packet)
        if direction is None:
            self.counters.not_ipv4 += 1
            self._push(now, packet, None, 0)
            return Fate(None, 0, False, False, False, now)
        index = self.counters.per_direction.get(direction, 0)
        self.counters.per_direction[direction] = index + 1
        rng = self._rng(direction)
        u_loss, u_reorder, u_duplicate = rng.random(), rng.random(), rng.random()  # always three draws
        lost = u_loss * 100 < s.loss
        reordered = not lost and u_reorder * 100 < s.reorder
        duplicated = not lost and u_duplicate * 100 < s.duplicate
        if lost:
            self.counters.dropped_loss += 1
            return Fate(direction, index, True, False, False, None)
        if self.held + (2 if duplicated else 1) > s.max_held:
            self.counters.dropped_full += 1
            return Fate(direction, index, False, False, False, None)
        leaves = now + s.delay_ms / 1000
        if reordered:
            leaves += s.reorder_gap_ms / 1000
        else:
            # first in, first out among the packets that are not held back
            leaves = max(leaves, self._last_leave.get(direction, leaves))
            self._last_leave[direction] = leaves
        self._push(leaves, packet, direction, index)
        if duplicated:
            self.counters.duplicated += 1
            self._push(leaves, packet, direction, index)
        return Fate(direction, index, False, reordered, duplicated, leaves)

    def _push(self, leaves: float, packet: bytes, direction: str | None, index: int) -> None:
        self._order += 1
        heapq.heappush(self._heap, (leaves, self._order, packet, direction, index))

    def next_due(self) -> float | None:
        """When the next held packet must leave, or None if none is held."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[bytes]:
        """The packets whose time has come, in the order they must be written."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            _, _, packet, direction, index = heapq.heappop(self._heap)
            if direction is not None:
                highest = self._max_released.get(direction, -1)
                if index < highest:
                    self.counters.reordered += 1
                else:
                    self._max_released[direction] = index
            out.append(packet)
        self.counters.forwarded += len(out)
        return out

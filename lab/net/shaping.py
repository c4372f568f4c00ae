"""What the lab's router does to the traffic: the settings, their units, and which stage applies them.

Three *stages* can shape the router's traffic (docs/NETLAB.md):

* ``nftables``: loss only (``numgen random mod 100 < N drop`` in the
  forward hook), unseeded; the original netlab, still what ``chatlab
  compare`` uses;
* ``netem``: the kernel's network emulator qdisc on each router link, where
  the kernel has it (delay, loss, reordering, duplication);
* ``tun``: the kit's own delay stage (``lab.net.delay_stage``), a process in
  the router fed through a TUN device: delay, loss, reordering,
  duplication, **seeded** so that a class can replay the same run.

The rate limit is the same for all three: a ``tbf`` (token bucket filter)
qdisc on each router link, whose ``limit`` is the queue: when more than
``queue`` bytes wait for the link, tbf drops what arrives (a *tail drop*),
as a router whose buffer is full does.  That drop is what congestion
control reacts to.

Everything here is plain code (no I/O): parsing "40ms" and "2mbit", choosing
the stage, and building the ``tc`` arguments, so it is tested without root.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

STAGES = ("nftables", "netem", "tun")
MTU_FRAME = 1514  # a full-size Ethernet frame (1500 bytes of IP) as tc counts it
NETEM_LIMIT = 100_000  # packets netem may hold: never the bottleneck, the tbf queue is
DEFAULT_QUEUE_SECONDS = 0.1  # default queue: what the rate sends in 100 ms...
DEFAULT_QUEUE_MIN_PACKETS = 8  # ...but at least 8 full-size packets
MAX_DELAY_MS = 10_000.0


class ShapingError(ValueError):
    """A setting the user must fix; the message is one line."""


def check_percent(name: str, value) -> None:
    """A whole percentage 0-100 (nftables' ``numgen random mod 100`` works in whole percent), else ShapingError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ShapingError(f"{name} must be a whole percentage between 0 and 100, not {value!r}")


def check_delay(name: str, ms: float) -> None:
    """A time in ms, 0-10000, else ShapingError."""
    if not 0 <= ms <= MAX_DELAY_MS:
        raise ShapingError(f"{name} must be between 0 and {MAX_DELAY_MS:g} ms, not {ms:g}")


# --- units ------------------------------------------------------------------------------

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


def parse_duration_ms(value: str | float | int | None) -> float | None:
    """``"40ms"``, ``"0.04s"``, ``"40"`` (ms) or a number (ms) -> milliseconds; None stays None."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    m = re.fullmatch(_NUMBER + r"\s*(ms|s|us)?", value.strip().lower())
    if not m:
        raise ShapingError(f"delay {value!r}: give a duration such as 40ms or 0.04s")
    number, unit = float(m.group(1)), m.group(2) or "ms"
    return {"ms": number, "s": number * 1000, "us": number / 1000}[unit]


_RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
               "kibit": 2**10, "mibit": 2**20, "gibit": 2**30, "tibit": 2**40}
_RATE_UNITS.update({unit.replace("bit", "bps"): 8 * factor for unit, factor in list(_RATE_UNITS.items())})
_RATE_UNITS["bps"] = 8  # tc(8): "bps" is bytes per second, so "2mbps" is 16 Mbit/s


def parse_rate_bits(value: str | int | None) -> int | None:
    """A rate as tc writes it -> bits per second: ``"2mbit"`` (SI, k = 1000), ``"1mibit"`` (1024),
    ``"250kbps"`` (tc's ``bps`` means BYTES per second: 2 Mbit/s).  The same units as
    ``lab.commands.options.TC_RATE``."""
    if value is None or isinstance(value, int):
        return value
    m = re.fullmatch(_NUMBER + r"\s*([a-z]+)", value.strip().lower())
    if not m or m.group(2) not in _RATE_UNITS:
        raise ShapingError(f"rate {value!r}: give a rate as tc writes it, such as 2mbit or 500kbit")
    bits = int(float(m.group(1)) * _RATE_UNITS[m.group(2)])
    if bits < 8_000:
        raise ShapingError(f"rate {value!r} is below 8kbit (1 KB/s): TCP would crawl; give at least 8kbit")
    return bits


_SIZE_UNITS = {"b": 1, "": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2}


def parse_size_bytes(value: str | int | None) -> int | None:
    """``"32kb"``, ``"32k"``, ``"1mb"``, ``"4000"`` (bytes; k = 1024, as tc) -> bytes."""
    if value is None or isinstance(value, int):
        return value
    m = re.fullmatch(_NUMBER + r"\s*(b|kb|k|mb|m)?", value.strip().lower())
    if not m:
        raise ShapingError(f"queue {value!r}: give a size in bytes such as 32kb or 48000")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""])


def format_rate(bits: int) -> str:
    """``2000000`` -> ``"2 Mbit/s"`` (three significant digits)."""
    for unit, size in (("Gbit/s", 10**9), ("Mbit/s", 10**6), ("kbit/s", 10**3)):
        if bits >= size:
            return f"{bits / size:.3g} {unit}"
    return f"{bits} bit/s"


# --- the settings ----------------------------------------------------------------------

@dataclass(frozen=True)
class LinkSettings:
    """What the router does to every packet it forwards, each direction of each link."""

    loss: int = 0  # % of packets dropped at random
    delay_ms: float = 0.0  # one-way delay added in each direction (the round trip grows by twice this)
    rate_bits: int | None = None  # tbf rate limit, bits per second
    queue_bytes: int | None = None  # tbf queue (only with a rate); None: DEFAULT_QUEUE_*
    reorder: int = 0  # % of packets held back (tun) or sent ahead (netem)
    reorder_gap_ms: float = 10.0  # tun: how much longer a reordered packet is held
    duplicate: int = 0  # % of packets sent twice
    seed: int | None = None  # tun: replay the same decisions; None: seed 0 (and auto prefers netem)

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            check_percent(name, getattr(self, name))
        check_delay("delay", self.delay_ms)
        check_delay("reorder gap", self.reorder_gap_ms)
        if self.queue_bytes is not None:
            if self.rate_bits is None:
                raise ShapingError("a queue size only means something with a rate limit: give --rate too")
            if self.queue_bytes < MTU_FRAME:
                raise ShapingError(f"queue {self.queue_bytes} bytes cannot hold one full-size packet "
                                   f"({MTU_FRAME} bytes); give at least 2kb")

    @property
    def queue(self) -> int | None:
        """The tbf queue in bytes (the default when none was given), None without a rate."""
        if self.rate_bits is None:
            return None
        if self.queue_bytes is not None:
            return self.queue_bytes
        return max(DEFAULT_QUEUE_MIN_PACKETS * MTU_FRAME, int(self.rate_bits / 8 * DEFAULT_QUEUE_SECONDS))

    @property
    def needs_stage(self) -> bool:
        """True when nftables alone cannot do it (delay, reordering, duplication, a seed)."""
        return bool(self.delay_ms or self.reorder or self.duplicate or self.seed is not None)

    def to_dict(self) -> dict:
        """The settings as JSON values, with the queue in bytes as the link actually uses it."""
        return {**asdict(self), "queue_bytes": self.queue}


def choose_stage(settings: LinkSettings, wanted: str, netem_available: bool) -> str:
    """The stage that applies ``settings``: ``wanted`` is "auto" or one of STAGES."""
    if wanted not in ("auto", *STAGES):
        raise ShapingError(f"stage {wanted!r}: choose auto, {', '.join(STAGES)}")
    if wanted == "auto":
        if not settings.needs_stage:
            return "nftables"
        if settings.seed is not None or not netem_available:
            return "tun"  # only the kit's stage replays a seeded run
        return "netem"
    if wanted == "nftables" and settings.needs_stage:
        raise ShapingError("the nftables stage only drops packets: delay, reordering, duplication and a seed "
                           "need --stage tun (or netem)")
    if wanted == "netem":
        if not netem_available:
            raise ShapingError("this kernel has no netem qdisc; use --stage tun (the kit's own delay stage)")
        if settings.seed is not None:
            raise ShapingError("netem cannot be seeded with this tc; use --stage tun to replay a run")
        if settings.reorder and not settings.delay_ms:
            raise ShapingError("netem reorders only delayed packets: give --delay too, or use --stage tun")
    return wanted


def tbf_args(settings: LinkSettings) -> list[str]:
    """The ``tbf`` arguments for the rate limit and its queue (empty without a rate).

    ``burst`` (the bucket) holds two full-size frames, or 4 ms at the rate
    if more: enough for the kernel's timer granularity, small enough that
    the link never runs much faster than the rate.
    """
    if settings.rate_bits is None:
        return []
    burst = max(2 * MTU_FRAME, math.ceil(settings.rate_bits / 8 * 0.004))
    return ["tbf", "rate", f"{settings.rate_bits}bit", "burst", str(burst), "limit", str(settings.queue)]


def netem_args(settings: LinkSettings) -> list[str]:
    """The ``netem`` arguments (its own limit large: the tbf child is the queue that overflows)."""
    args = ["netem", "limit", str(NETEM_LIMIT)]
    if settings.delay_ms:
        args += ["delay", f"{settings.delay_ms:g}ms"]
    if settings.loss:
        args += ["loss", "random", f"{settings.loss}%"]
    if settings.reorder:
        args += ["reorder", f"{settings.reorder}%"]
    if settings.duplicate:
        args += ["duplicate", f"{settings.duplicate}%"]
    return args


def qdisc_commands(settings: LinkSettings, stage: str, ns: str, dev: str) -> list[list[str]]:
    """The ``tc`` commands that set up ``dev`` (after its root qdisc was deleted)."""
    base = ["tc", "-n", ns, "qdisc", "add", "dev", dev]
    tbf = tbf_args(settings)
    if stage == "netem":
        commands = [base + ["root", "handle", "1:", *netem_args(settings)]]
        if tbf:  # netem delays, then the packets queue for the rate limit
            commands.append(base + ["parent", "1:1", "handle", "10:", *tbf])
        return commands
    return [base + ["root", *tbf]] if tbf else []


def qdisc_drops(tc_json: list[dict]) -> dict:
    """Packets dropped by each kind of qdisc, from ``tc -s -j qdisc show`` of one device."""
    drops: dict[str, int] = {}
    for q in tc_json:
        drops[q.get("kind", "?")] = drops.get(q.get("kind", "?"), 0) + int(q.get("drops", 0))
    return drops


def describe(settings: LinkSettings, stage: str) -> str:
    """One line: what the router does, e.g. for ``chatlab netlab up`` and ``status``."""
    parts = []
    if settings.delay_ms:
        parts.append(f"delay {settings.delay_ms:g} ms each way (+{2 * settings.delay_ms:g} ms round trip)")
    if settings.rate_bits:
        parts.append(f"rate {format_rate(settings.rate_bits)} with a {settings.queue:,}-byte queue")
    parts.append(f"loss {settings.loss} %")
    if settings.reorder:
        held = f"held back {settings.reorder_gap_ms:g} ms" if stage == "tun" else "sent ahead of the delay"
        parts.append(f"reorder {settings.reorder} % ({held})")
    if settings.duplicate:
        parts.append(f"duplicate {settings.duplicate} %")
    if stage == "tun":
        parts.append(f"seed {settings.seed or 0}")
    return ", ".join(parts)

"""The delay stage's decisions (sans-I/O): held for the delay, seeded, FIFO, counted honestly."""

from __future__ import annotations

import socket

import pytest

from lab.net.delay_line import DelayLine, SettingsError, StageSettings, direction_of


def ipv4(src: str, dst: str, tag: int = 0) -> bytes:
    """A minimal IPv4 header (what the stage reads: version, addresses) with a tag in the id field."""
    return (bytes([0x45, 0, 0, 20]) + tag.to_bytes(2, "big") + bytes([0, 0, 64, 17, 0, 0])
            + socket.inet_aton(src) + socket.inet_aton(dst))


UP, DOWN = ("10.77.1.2", "10.77.0.2"), ("10.77.0.2", "10.77.1.2")


def run(line: DelayLine, packets: list[tuple[float, bytes]], until: float) -> list[tuple[float, bytes]]:
    """Feed ``(time, packet)`` in order, stepping the clock by 1 ms; return ``(time, packet)`` as they leave."""
    out, pending, now = [], list(packets), 0.0
    while now <= until:
        while pending and pending[0][0] <= now:
            line.arrive(pending.pop(0)[1], now)
        out += [(now, p) for p in line.pop_due(now)]
        now = round(now + 0.001, 6)
    return out


def test_direction_of_reads_the_ipv4_addresses():
    assert direction_of(ipv4(*UP)) == "10.77.1.2>10.77.0.2"
    assert direction_of(b"\x60" + bytes(39)) is None  # IPv6
    assert direction_of(b"\x45") is None


def test_every_packet_is_held_for_the_delay_and_leaves_in_order():
    line = DelayLine(StageSettings(delay_ms=40))
    sent = [(t / 1000, ipv4(*UP, tag=t)) for t in range(0, 50, 5)]
    left = run(line, sent, 0.2)
    assert [p for _, p in left] == [p for _, p in sent]
    for (t_in, _), (t_out, _) in zip(sent, left):
        assert 0.040 - 1e-9 <= t_out - t_in <= 0.041 + 1e-9  # due at +40 ms; the test's clock ticks every 1 ms
    assert line.counters.forwarded == line.counters.received == 10 and line.held == 0


def test_nothing_leaves_early():
    line = DelayLine(StageSettings(delay_ms=25))
    line.arrive(ipv4(*UP), 1.0)
    assert line.pop_due(1.0249) == [] and line.next_due() == pytest.approx(1.025)
    assert len(line.pop_due(1.025)) == 1


def test_same_seed_same_fates_per_direction_whatever_the_interleaving():
    settings = StageSettings(loss=30, reorder=20, duplicate=10, seed=7)

    def fates(order: list[tuple[str, str]]) -> dict:
        line = DelayLine(settings)
        seen: dict = {}
        for n, direction in enumerate(order):
            fate = line.arrive(ipv4(*direction, tag=n), n / 1000)
            seen.setdefault(fate.direction, []).append((fate.lost, fate.reordered, fate.duplicated))
        return seen

    up_only = fates([UP] * 200 + [DOWN] * 200)
    interleaved = fates([UP, DOWN] * 200)
    assert up_only == interleaved  # the n-th packet of a direction meets the same fate
    assert fates([UP] * 200)["10.77.1.2>10.77.0.2"] == up_only["10.77.1.2>10.77.0.2"]
    other = DelayLine(StageSettings(loss=30, reorder=20, duplicate=10, seed=8))
    other_fates = [other.arrive(ipv4(*UP), 0).lost for _ in range(200)]
    assert other_fates != [lost for lost, _, _ in up_only["10.77.1.2>10.77.0.2"]]


def test_loss_takes_about_its_share_and_is_counted():
    line = DelayLine(StageSettings(loss=20, seed=1))
    lost = sum(line.arrive(ipv4(*UP), 0).lost for _ in range(2000))
    assert 300 <= lost <= 500  # Binomial(2000, 0.2): mean 400, sd 18
    assert line.counters.dropped_loss == lost and line.held == 2000 - lost


def test_reordered_counts_only_packets_that_really_leave_late():
    line = DelayLine(StageSettings(delay_ms=10, reorder=100, reorder_gap_ms=5))
    # every packet is held back by the same gap: nobody overtakes anybody
    left = run(line, [(t / 1000, ipv4(*UP, tag=t)) for t in range(10)], 0.1)
    assert len(left) == 10 and line.counters.reordered == 0
    line = DelayLine(StageSettings(delay_ms=10, reorder=50, reorder_gap_ms=20, seed=3))
    sent = [(t / 1000, ipv4(*UP, tag=t)) for t in range(40)]
    left = run(line, sent, 0.2)
    order = [int.from_bytes(p[4:6], "big") for _, p in left]
    overtaken = sum(1 for i, tag in enumerate(order) if any(later < tag for later in order[i + 1:]))
    late = sum(1 for i, tag in enumerate(order) if any(earlier > tag for earlier in order[:i]))
    assert overtaken > 0 and line.counters.reordered == late
    assert sorted(order) == list(range(40))  # nothing lost, nothing added


def test_duplicates_leave_together_and_are_not_reordering():
    line = DelayLine(StageSettings(delay_ms=5, duplicate=100))
    left = run(line, [(0.0, ipv4(*UP, tag=1)), (0.001, ipv4(*UP, tag=2))], 0.05)
    assert [int.from_bytes(p[4:6], "big") for _, p in left] == [1, 1, 2, 2]
    assert line.counters.duplicated == 2 and line.counters.forwarded == 4 and line.counters.reordered == 0


def test_a_shorter_delay_never_lets_packets_overtake():
    line = DelayLine(StageSettings(delay_ms=50))
    line.arrive(ipv4(*UP, tag=1), 0.0)
    line.reconfigure(line.settings.changed(delay_ms=10))
    line.arrive(ipv4(*UP, tag=2), 0.001)
    left = run(line, [], 0.1)
    assert [int.from_bytes(p[4:6], "big") for _, p in left] == [1, 2]


def test_the_stage_is_bounded():
    line = DelayLine(StageSettings(delay_ms=1000, max_held=5))
    for _ in range(8):
        line.arrive(ipv4(*UP), 0)
    assert line.held == 5 and line.counters.dropped_full == 3


def test_a_packet_that_is_not_ipv4_passes_at_once():
    line = DelayLine(StageSettings(delay_ms=100, loss=100))
    line.arrive(b"\x60" + bytes(39), 0.0)
    assert len(line.pop_due(0.0)) == 1 and line.counters.not_ipv4 == 1


@pytest.mark.parametrize("bad", [dict(loss=101), dict(loss=-1), dict(loss=2.5), dict(delay_ms=-1),
                                 dict(delay_ms=20_000), dict(max_held=0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(SettingsError):
        StageSettings(**bad)


def test_changed_refuses_unknown_settings():
    with pytest.raises(SettingsError, match="unknown"):
        StageSettings().changed(jitter=3)

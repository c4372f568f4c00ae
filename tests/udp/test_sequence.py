"""SequenceTracker: lost, duplicated and reordered, checked exhaustively and by property."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, strategies as st

from lab.udp import SequenceTracker


def _reference(arrivals: list[int]) -> dict:
    """The counts, by definition, with no cleverness."""
    seen: set[int] = set()
    dup = ooo = 0
    highest = 0
    for s in arrivals:
        if s in seen:
            dup += 1
            continue
        if s < highest:
            ooo += 1
        seen.add(s)
        highest = max(highest, s)
    return {"received": len(seen), "duplicated": dup, "out_of_order": ooo,
            "lost": highest - len(seen), "highest": highest}


def test_in_order():
    t = SequenceTracker()
    assert [t.add(s) for s in (1, 2, 3)] == ["new"] * 3
    assert t.to_dict() == {"received": 3, "lost": 0, "duplicated": 0, "out_of_order": 0, "highest": 3}


def test_gap_then_late_arrival_is_reordered_not_lost():
    t = SequenceTracker()
    t.add(1)
    t.add(3)
    assert t.lost == 1
    assert t.add(2) == "late"
    assert t.lost == 0 and t.out_of_order == 1


def test_duplicates_of_new_and_late():
    t = SequenceTracker()
    for s in (1, 3, 3, 2, 2, 1):
        t.add(s)
    assert t.duplicated == 3 and t.out_of_order == 1 and t.lost == 0


def test_rejects_zero():
    with pytest.raises(ValueError):
        SequenceTracker().add(0)


@pytest.mark.parametrize("n", range(1, 6))
def test_every_arrival_order_of_small_sequences(n):
    """All orders of 1..n, each with any one number missing or doubled."""
    base = list(range(1, n + 1))
    variants = [base] + [base[:i] + base[i + 1:] for i in range(n)] + [base + [x] for x in base]
    for variant in variants:
        for order in set(itertools.permutations(variant)):
            t = SequenceTracker()
            for s in order:
                t.add(s)
            assert t.to_dict() == _reference(list(order)), order


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=120))
def test_matches_the_definition(arrivals):
    t = SequenceTracker()
    for s in arrivals:
        t.add(s)
    assert t.to_dict() == _reference(arrivals)


def test_memory_is_bounded_and_far_gaps_count_as_lost():
    t = SequenceTracker(window=100)
    t.add(1)
    t.add(10_000)
    assert t.lost == 9_998
    assert len(t._missing) <= 100
    rng = random.Random(1)
    # reordering within blocks of 50, smaller than the window: counted exactly
    for start in range(10_001, 20_001, 50):
        for s in rng.sample(range(start, start + 50), 50):
            t.add(s)
    assert t.received == 10_002 and t.lost == 9_998
    assert len(t._missing) <= 100 and len(t._seen_recent) <= 200 + 1

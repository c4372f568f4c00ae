"""lab/net/rto.py: RFC 6298's estimator, Linux's formula, and the one copy of their arithmetic in lab/."""

from __future__ import annotations

import ast
import doctest
import importlib.util
import random
import re
from pathlib import Path

import pytest

from lab.net import rto
from lab.net.rto import LINUX_RTO_MIN, RttEstimator, linux_rto

ROOT = Path(__file__).resolve().parents[2]


def test_docstring_examples():
    assert doctest.testmod(rto).failed == 0


def test_rto_follows_rfc_6298():
    est = RttEstimator(min_rto=0.0, granularity=0.0)
    assert est.rto == 1.0 and est.srtt is None  # (2.1) before any sample
    est.sample(0.100)  # (2.2)
    assert (est.srtt, est.rttvar) == (0.100, 0.050) and est.rto == pytest.approx(0.300)
    est.sample(0.200)  # (2.3): RTTVAR from the OLD SRTT, then SRTT
    assert est.rttvar == pytest.approx(0.75 * 0.050 + 0.25 * 0.100)
    assert est.srtt == pytest.approx(0.875 * 0.100 + 0.125 * 0.200)
    assert est.rto == pytest.approx(est.srtt + 4 * est.rttvar)


def test_rto_bounds_and_backoff():
    est = RttEstimator(min_rto=0.2, max_rto=1.0)
    est.sample(0.0001)
    assert est.rto == 0.2  # (2.4): Linux's 200 ms floor here
    est.backoff()
    est.backoff()
    assert est.rto == pytest.approx(0.8)
    est.backoff()
    assert est.rto == 1.0  # (2.5) the cap
    est.sample(0.0001)
    assert est.rto == 0.2  # a fresh sample computes it afresh
    assert RttEstimator(max_rto=0.5).rto == 0.5  # the initial 1 s is capped too


def test_granularity_bounds_the_variance_term():
    est = RttEstimator(min_rto=0.0, granularity=0.001)
    for _ in range(80):
        est.sample(0.040)  # RTTVAR shrinks towards 0
    assert 4 * est.rttvar < 0.001 and est.rto == pytest.approx(est.srtt + 0.001)


def test_linux_adds_its_floor_to_srtt_where_the_rfc_raises_the_result():
    steady = RttEstimator(min_rto=LINUX_RTO_MIN)
    for _ in range(20):
        steady.sample(0.040)
    # RFC 6298's way: 40 ms + a tiny variance term is raised to 200 ms; Linux's: 40 ms + 200 ms.
    assert steady.rto == pytest.approx(0.200)
    assert linux_rto(steady.srtt, steady.rttvar) == pytest.approx(steady.srtt + LINUX_RTO_MIN)
    assert linux_rto(0.100, 0.080) == pytest.approx(0.100 + 4 * 0.080)  # the variance term wins
    assert linux_rto(None, None) == rto.INITIAL_RTO


def _ex10_solution():
    path = ROOT / "solutions" / "ex10_rtt.py"
    if not path.exists():
        pytest.skip("no solutions/ex10_rtt.py here (a student release has no solutions/)")
    spec = importlib.util.spec_from_file_location("ex10_rtt_solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exercise_10s_estimator_gives_the_same_numbers():
    """Exercise 10 writes its own estimator (update/on_timeout, its own shape): same samples, same numbers."""
    ex = _ex10_solution()
    rng = random.Random(6298)
    for min_rto in (1.0, 0.2, 0.0):
        theirs, ours = ex.RttEstimator(min_rto=min_rto), RttEstimator(min_rto=min_rto, initial_rto=1.0)
        for step in range(300):
            if step % 37 == 36:
                theirs.on_timeout()
                ours.backoff()
            else:
                sample = rng.uniform(0.001, 0.5)
                theirs.update(sample)
                ours.sample(sample)
            assert (theirs.srtt, theirs.rttvar, theirs.rto) == (ours.srtt, ours.rttvar, ours.rto), (
                f"solutions/ex10_rtt.py and lab/net/rto.py disagree after {step + 1} steps (min_rto {min_rto})")


SMOOTHED = re.compile(r"srtt|rttvar|estimated", re.IGNORECASE)   # what the result is called
WEIGHTS = {0.875, 0.125, 0.75, 0.25, "ALPHA", "BETA"}   # alpha = 1/8, beta = 1/4, written out or named


def smoothing_assignments(source: str) -> list[int]:
    """Line numbers of assignments to an SRTT/RTTVAR-like name whose value uses RFC 6298's weights."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n.id if isinstance(n, ast.Name) else n.attr for t in targets for n in ast.walk(t)
                 if isinstance(n, (ast.Name, ast.Attribute))]
        weights = {n.value if isinstance(n, ast.Constant) else n.id for n in ast.walk(node.value)
                   if isinstance(n, ast.Constant) and n.value in WEIGHTS or isinstance(n, ast.Name) and n.id in WEIGHTS}
        if weights and any(SMOOTHED.search(name) for name in names):
            lines.append(node.lineno)
    return lines


def test_lab_smooths_round_trip_times_in_one_place():
    """SRTT/RTTVAR arithmetic lives in lab/net/rto.py only; every other module calls RttEstimator."""
    copies = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "lab").rglob("*.py"))
              if path != ROOT / "lab" / "net" / "rto.py"
              for line in smoothing_assignments(path.read_text(encoding="utf-8"))]
    assert not copies, ("RFC 6298's smoothing is written again outside lab/net/rto.py (use its RttEstimator): "
                        + ", ".join(copies))


@pytest.mark.parametrize("copy", [
    "sender.rttvar = 0.75 * sender.rttvar + 0.25 * abs(sender.srtt - sample)",   # lab/capture/recovery.py had it
    "estimated = sample if estimated is None else 0.875 * estimated + 0.125 * sample",  # microscope had it
    "self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt",
])
def test_the_check_finds_the_copies_it_was_written_for(copy):
    assert smoothing_assignments(copy) == [1]
    assert smoothing_assignments(Path(rto.__file__).read_text(encoding="utf-8")), "the one copy is found too"


def test_the_check_leaves_other_arithmetic_alone():
    assert smoothing_assignments("srtt = info.rtt_ms / 1000\nshare = 0.25 * total") == []

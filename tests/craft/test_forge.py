"""lab.craft.forge: the forged RST's numbers, from the recorded capture."""

from __future__ import annotations

from lab.craft.forge import OUTSIDE_OFFSET, classify, next_seq, reset_plan
from lab.craft.tcb import Seen, seq_diff
from tests.craft.recorded import connections


def test_reset_plan_from_a_capture_and_the_attackers_own_rst_does_not_count():
    _, (victim, segments) = connections()
    before_rst = [((s.src, s.sport), Seen.of(s)) for s in segments[:-1]]
    plan = reset_plan(before_rst, victim)
    assert plan.exact == segments[-1].seq  # the RST the victim's own kernel sent
    assert classify(plan.in_window, plan.exact, 65535) == "in_window"
    assert classify(plan.outside, plan.exact, 65535 << 14) == "outside"
    forged = before_rst + [(victim, Seen("R", seq=plan.outside))]
    assert next_seq(forged, victim) == plan.exact
    assert seq_diff(plan.outside, plan.exact) == OUTSIDE_OFFSET

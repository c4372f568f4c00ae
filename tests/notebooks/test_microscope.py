"""Lesson 8's helpers on the recorded runs (no root needed): the claims hold, the graphs plot the capture."""

from __future__ import annotations

import pytest

from lab.notebook import microscope as mic

RUNS = sorted(mic.RUNS)


@pytest.fixture(scope="module")
def runs():
    return {name: mic.load(name) for name in RUNS}


def test_every_run_has_a_recording(runs):
    for name, run in runs.items():
        assert run.connection() and run.tcp_info and not run.live, name
        assert run.settings["congestion_control"] == "cubic", "the lesson's text describes CUBIC"


@pytest.mark.parametrize("name, claims", [
    ("08-bulk", [mic.handshake_claims, mic.rtt_floor_claims, mic.segment_claims, mic.retransmission_claims,
                 mic.slow_start_claims, mic.rto_claims]),
    ("08-timeout", [mic.timeout_claims]),
    ("08-pause", [mic.flow_control_claims]),
])
def test_the_lessons_claims_hold_on_the_recordings(runs, name, claims):
    for make in claims:
        for claim in make(runs[name]):
            assert claim.holds, claim.line()


def test_claims_fail_when_the_evidence_says_otherwise(runs):
    """A claim can fail: the same checks on the wrong run, or on altered readings."""
    bulk, pause = runs["08-bulk"], runs["08-pause"]
    assert not all(c.holds for c in mic.timeout_claims(bulk))  # no timeout in the bulk run
    assert not mic.flow_control_claims(bulk)[0].holds  # its receiver never closed its window
    altered = mic.Run(bulk.name, False, bulk.settings, bulk.segments,
                      [{**s, "total_retrans": s["total_retrans"] + 1} for s in bulk.tcp_info], bulk.events,
                      bulk.sender, bulk.paste)
    assert not mic.retransmission_claims(altered)[0].holds
    assert pause.tcp_info  # (the fixture is used)


def test_rfc6298_arithmetic():
    est = mic.rfc6298([(0.0, 0.100), (1.0, 0.200)], min_rto=0.0)
    assert est[0]["srtt"] == pytest.approx(0.1) and est[0]["rttvar"] == pytest.approx(0.05)
    assert est[1]["rttvar"] == pytest.approx(0.0625) and est[1]["srtt"] == pytest.approx(0.1125)
    assert est[1]["rto"] == pytest.approx(0.3625)
    assert mic.rfc6298([(0.0, 0.04)], min_rto=1.0)[0]["rto"] == 1.0


def test_first_segments_follow_the_textbook(runs):
    rows = mic.first_segments(runs["08-bulk"], 6)
    assert len(rows) == 6 and rows[0]["estimated_rtt"] == rows[0]["sample_rtt"]
    for before, row in zip(rows, rows[1:]):
        assert row["estimated_rtt"] == pytest.approx(0.875 * before["estimated_rtt"] + 0.125 * row["sample_rtt"])
        assert row["acked"] > row["sent"]


def test_karn_leaves_out_acks_of_resent_bytes(runs):
    run = runs["08-bulk"]
    resent = mic.retransmitted_ranges(run)
    assert resent
    all_acks = [a for a in run.acks() if a.tcp and a.tcp.ack_rtt is not None]
    assert len(mic.rtt_samples(run)) < len(all_acks)


def test_the_lessons_figure_marks_the_events(runs):
    """lab.capture.graphs draws the capture (its own tests read the points back); the lesson adds the events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = runs["08-timeout"]
    fig = mic.figure(run)
    try:
        marked = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "event"]
        shown = [t for t, what in mic.event_times(run) if "starts pasting" not in what]
        assert len(shown) == 2 and len(marked) == 2 * len(fig.axes)
        assert sorted({round(float(line.get_xdata()[0]), 6) for line in marked}) == sorted(round(t, 6) for t in shown)
    finally:
        plt.close(fig)

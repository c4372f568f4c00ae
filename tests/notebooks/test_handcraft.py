"""Lesson 9's self-checks (lab/notebook/handcraft.py): they hold on the recording, and fail when the wire disagrees."""

from __future__ import annotations

import copy
import json

import pytest

from lab import notebook as nb
from lab.notebook import handcraft
from lab.notebook.settings import LESSON_DATA


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setenv(nb.FORCE_RECORDED_ENV, "1")
    return json.loads((LESSON_DATA / handcraft.RECORDING).read_text())


def _replayed(name: str):
    cap = nb.Capture(5050, name)
    for _ in cap.steps or [0]:
        cap.next_step()
    return cap


def test_every_claim_holds_on_the_recording(recorded):
    cap = _replayed("09-handshake")
    claims = (handcraft.no_guard_claims(recorded["no-guard"]) + handcraft.join_claims(cap, recorded["join"], 61000)
              + handcraft.mistake_claims(recorded["ack-isn"], recorded["seq-isn"])
              + handcraft.reset_claims(recorded["plain"], _replayed("09-reset").annotated)
              + handcraft.tls_reset_claims(recorded["tls"])
              + handcraft.flood_claims(recorded["flood"], _replayed("09-flood").annotated))
    assert len(claims) == 19 and all(c.holds for c in claims), [c.line() for c in claims if not c.holds]


def test_the_claims_fail_when_the_wire_disagrees(recorded):
    join = copy.deepcopy(recorded["join"])
    join["bob_saw"] = []
    assert not all(c.holds for c in handcraft.join_claims(_replayed("09-handshake"), join, 61000))
    plain = copy.deepcopy(recorded["plain"])
    plain["tries"][1]["challenge_ack"] = False
    assert not all(c.holds for c in handcraft.reset_claims(plain, _replayed("09-reset").annotated))
    flood = copy.deepcopy(recorded["flood"])
    flood["phases"][0]["connected"] = True
    assert not all(c.holds for c in handcraft.flood_claims(flood, _replayed("09-flood").annotated))
    with pytest.raises(nb.ClaimFailed):
        nb.check(handcraft.tls_reset_claims({"closed_event": None}))


def test_without_root_the_lab_says_so_and_replays(recorded, monkeypatch):
    class FakeLesson:
        netns_problem = capture_problem = None

        def track(self, what, close):
            raise AssertionError("nothing is started in a recorded lesson")

    lab = nb.CraftLab(FakeLesson())
    assert not lab.live and lab.netns("server") is None
    assert lab.room() == (None, None)
    assert lab.hand_join("join")["reached"] == "closed"
    with pytest.raises(LookupError, match="re-record"):
        lab.syn_flood("no such experiment")

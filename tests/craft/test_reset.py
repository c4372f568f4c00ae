"""lab.craft.reset for real: three forged RSTs from the router, and one against a TLS member."""

from __future__ import annotations

import pytest

from lab.craft.reset import forged_resets

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(120)]


def test_forged_resets(net):
    run = forged_resets(net)
    tries = {t.kind: t for t in run.tries}
    assert tries["outside"].answer == "none" and not tries["outside"].member_left
    assert tries["in_window"].challenge_ack and not tries["in_window"].member_left
    assert tries["exact"].member_left and run.closed_event["how"] == "rst"
    assert "reset" in run.room_saw


def test_a_forged_reset_ends_a_tls_connection_too(net):
    run = forged_resets(net, tls=True, kinds=("exact",))
    assert run.tries[0].member_left and run.closed_event["how"] == "rst"

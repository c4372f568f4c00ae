"""lab.craft.guard: the nftables rule's text and its counter (the live use: test_handshake, test_flood)."""

from __future__ import annotations

import pytest

from lab.craft.guard import guard_ruleset, parse_dropped
from tests.craft.recorded import SERVER


def test_guard_ruleset():
    assert "ip saddr 10.77.0.2 tcp sport 5050 tcp dport 61000-61031 counter drop" in guard_ruleset(SERVER, "61000-61031")
    with pytest.raises(ValueError):
        guard_ruleset(SERVER, "61000; drop")  # never a second rule smuggled in
    assert parse_dropped("counter packets 0 bytes 0 drop") == 0


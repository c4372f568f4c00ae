"""lab.craft.counters: nstat's output read, two readings compared (the live use: test_flood)."""

from __future__ import annotations

from lab.craft.counters import MEANING, changes, parse_nstat


def test_parse_and_compare():
    text = "#kernel\nTcpExtListenDrops  3  0.0\nTcpExtSyncookiesSent 0 0.0\n"
    assert parse_nstat(text) == {"TcpExtListenDrops": 3, "TcpExtSyncookiesSent": 0}
    assert changes({"TcpExtListenDrops": 3}, {"TcpExtListenDrops": 5}, ["TcpExtListenDrops"]) == {"TcpExtListenDrops": 2}
    assert changes({"a": 1}, {"a": 1, "b": 0}) == {}


def test_every_counter_the_flood_shows_is_explained():
    from lab.craft.flood import SHOWN

    assert set(SHOWN) <= set(MEANING)

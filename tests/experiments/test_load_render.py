"""The report `chatlab load` prints: the table and the verdict on stalled clients (no sockets)."""

from __future__ import annotations

import io

from rich.console import Console

from lab.experiments.load.render import explain_verdict, render


def report(verdict: dict, dropped=(), unread=None) -> dict:
    """A report as runner._report builds it, with only what the renderer reads."""
    return {
        "target": {"host": "127.0.0.1", "address": "127.0.0.1", "port": 5051},
        "config": {"clients": 200, "senders": 20, "rate": 2.0, "duration": 10.0, "stalled": 1, "size": 1000},
        "connect": {"registered": 201, "clients": 201, "seconds": 2.0, "p50_ms": 0.5, "max_ms": 3.0, "failed": 0,
                    "failures": [], "bots": 0},
        "messages_sent": 400, "reach": 0.25 if verdict["state"] == "frozen" else 1.0, "delivered": 19_900,
        "expected": 79_600, "receivers_incomplete": 200, "receivers": 200, "deliveries_per_s": 1990.0,
        "duplicates": 0, "out_of_order": 0,
        "latency_ms": {"p50": 0.4, "p99": 0.9, "max": 1.1, "samples": 19_900, "timed_receivers": 200,
                       "clock": "kernel receive timestamp (SO_TIMESTAMPNS)"},
        "timeline": [{"t": 0, "deliveries": 9000, "max_ms": 1.0}],
        "read_lag_ms": {"p50": 0.1, "p99": 1.0, "max": 2.0},
        "closed_by_server": {"count": 0, "examples": []},
        "stalled": {"count": 1, "registered": 1, "names": ["Sab0"], "dropped": list(dropped),
                    "unread_bytes": unread or {}},
        "verdict": verdict,
        "load_cpu": {"cores": 0.1, "user_s": 0.5, "system_s": 0.1, "processes": 1},
        "workers_reported": 1,
    }


def test_a_freeze_is_explained_who_why_and_how_to_see_it():
    frozen = report({"state": "frozen", "last_delivery_second": 2, "kept": ["Sab0"], "dropped": []},
                    unread={"Sab0": 6131})
    text = explain_verdict(frozen).plain
    assert text.startswith("FROZEN: after second 2 of 10 no client received anything more")
    assert "only Sab0 stopped reading, and the server never dropped it" in text
    assert "Sab0 has 6,131 bytes unread" in text and "zero window" in text
    assert "blocking sendall() while it holds a lock" in text
    assert "ss -tn 'sport = :5051'" in text and "chatlab sniff --port 5051" in text


def test_a_dropped_staller_is_healthy_with_the_servers_reason():
    healthy = report({"state": "dropped", "last_delivery_second": 10, "kept": [], "dropped": ["Sab0"]},
                     dropped=[("Sab0", "dropped: send queue exceeded")])
    assert explain_verdict(healthy).plain == (
        "HEALTHY: the server dropped the stalled client Sab0 (dropped: send queue exceeded) and every other "
        "client received every message, once and in order.")


def test_the_table_says_the_message_size_and_ends_with_the_verdict():
    out = io.StringIO()
    frozen = report({"state": "frozen", "last_delivery_second": 2, "kept": ["Sab0"], "dropped": []})
    render(frozen, Console(file=out, width=80, color_system=None))
    printed = out.getvalue()
    assert "messages of 1,000 bytes" in printed
    assert printed.rstrip().splitlines()[-1].strip(), "something follows the table"
    assert "FROZEN:" in printed.split("└")[-1], "the verdict comes after the table"
    assert max(len(line) for line in printed.splitlines()) <= 80

"""bench/: the one-pass measurement runs, and the tables it feeds say what they measured (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench.run import tables  # noqa: E402


def test_fanout_measures_the_raw_loop_the_delivery_path_and_two_threads():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "fanout.py"), "--members", "20",
                           "--rounds", "3", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["members"] == 20
    for name in ("raw", "lab", "lab2"):
        assert result[name]["pass_ms"] > 0 and result[name]["send_us"] > 0


def _row(label: str, p99: float) -> dict:
    return {"server": "reference", "point": "goal", "label": label, "nodelay": None, "deliveries_per_s": 99_900.0,
            "reach": 1.0, "duplicates": 0, "out_of_order": 0, "p50_ms": 5.0, "p99_ms": p99, "max_ms": 20.0,
            "server_cpu_cores": 0.7, "server_rss_mib": 52.0, "load_cpu_cores": 0.5, "load_read_lag_p99_ms": 1.0,
            "connect_failed": 0, "closed_by_server": 0, "stalled_dropped": [], "receivers_incomplete": 0,
            "background_busy": 0.0, "others_cores": 0.0}


def test_tables_compare_the_1000_client_rows_with_one_pass_measured_in_the_same_run():
    machine = {"date": "today", "cpu": "cpu", "cores": 2, "kernel": "k", "python": "3"}
    passes = [{"members": 1000, "raw": {"pass_ms": 6.0, "pass_cpu_ms": 6.0, "send_us": 6.0},
               "lab": {"pass_ms": 7.0, "pass_cpu_ms": 7.0, "send_us": 7.0}},
              {"members": 1000, "raw": {"pass_ms": 6.0, "pass_cpu_ms": 6.0, "send_us": 6.0},
               "lab": {"pass_ms": 9.0, "pass_cpu_ms": 9.0, "send_us": 9.0}}]
    text = tables(machine, [_row("200 clients / 20 senders x 5/s", 4.0), _row("1,000 clients / 50 senders x 2/s", 16.0)],
                  [], [], 20.0, passes)
    small, goal = [line for line in text.splitlines() if line.startswith("| reference")]
    assert "| 16.0 | 2.0 |" in goal  # p99 16 ms over a median pass of 8 ms
    assert "| 4.0 |  |" in small  # only the 1,000-client rows have a pass to compare with
    assert "**8.0 ms**" in text and "measured 2 times" in text


def test_tables_without_a_pass_measurement_leave_the_ratio_empty():
    machine = {"date": "today", "cpu": "cpu", "cores": 2, "kernel": "k", "python": "3"}
    text = tables(machine, [_row("1,000 clients / 50 senders x 2/s", 16.0)], [], [], 20.0, [None])
    assert "| 16.0 |  |" in text and "One pass" not in text

"""bench/: the one-pass measurement runs, and the tables it feeds say what they measured (no timing assertions).

These tests check the bench's arithmetic and its columns on made-up rows;
whether the numbers are good is what `make bench` is for, never a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench.run import plan, ratio_stats, tables  # noqa: E402

MACHINE = {"date": "today", "cpu": "cpu", "cores": 2, "kernel": "k", "python": "3"}
GOAL = "1,000 clients / 50 senders x 2/s"
STALLED = "1,000 / 50 x 2/s + 1 stalled reader, small send buffer and queue"


def test_fanout_measures_the_raw_loop_the_delivery_path_and_two_threads():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "fanout.py"), "--members", "20",
                           "--rounds", "3", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["members"] == 20
    for name in ("raw", "lab", "lab2"):
        assert result[name]["pass_ms"] > 0 and result[name]["send_us"] > 0


def _row(label: str, p99: float, server: str = "reference", point: str = "goal", rep=None, p50: float = 5.0,
         cpu: float = 0.7, rss: float = 52.0, reach: float = 1.0, dropped=()) -> dict:
    return {"server": server, "point": point, "label": label, "nodelay": None, "rep": rep, "deliveries_per_s": 99_900.0,
            "reach": reach, "duplicates": 0, "out_of_order": 0, "p50_ms": p50, "p99_ms": p99, "max_ms": 20.0,
            "server_cpu_cores": cpu, "server_rss_mib": rss, "load_cpu_cores": 0.5, "load_read_lag_p99_ms": 1.0,
            "connect_failed": 0, "closed_by_server": 0, "stalled_dropped": list(dropped), "receivers_incomplete": 0,
            "background_busy": 0.0, "others_cores": 0.0}


def _line(text: str, start: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def test_tables_compare_the_1000_client_rows_with_one_pass_measured_in_the_same_run():
    passes = [{"members": 1000, "raw": {"pass_ms": 6.0, "pass_cpu_ms": 6.0, "send_us": 6.0},
               "lab": {"pass_ms": 7.0, "pass_cpu_ms": 7.0, "send_us": 7.0}},
              {"members": 1000, "raw": {"pass_ms": 6.0, "pass_cpu_ms": 6.0, "send_us": 6.0},
               "lab": {"pass_ms": 9.0, "pass_cpu_ms": 9.0, "send_us": 9.0}}]
    text = tables(MACHINE, [_row("200 clients / 20 senders x 5/s", 4.0, point="small"), _row(GOAL, 16.0, rep=0)],
                  [], [], 20.0, passes)
    small = _line(text, "|  | reference | 200")
    goal = _line(text, "| 1 | reference | 1,000")
    assert "| 16.0 | 2.0 |" in goal  # p99 16 ms over a median pass of 8 ms
    assert "| 4.0 |  |" in small  # only the 1,000-client rows have a pass to compare with
    assert "**8.0 ms**" in text and "measured 2 times" in text


def test_tables_without_a_pass_measurement_leave_the_ratio_empty():
    text = tables(MACHINE, [_row(GOAL, 16.0)], [], [], 20.0, [None])
    assert "| 16.0 |  |" in text and "One pass" not in text


def test_the_headline_gives_each_ratio_reference_over_naive_per_pair_with_median_and_spread():
    rows = []
    # three pairs: p99 ratios 0.5, 1.0 and 2.0 (median 1.0, spread 0.50-2.00); CPU always 0.8 / 1.0
    for rep, (ref_p99, naive_p99) in enumerate([(5.0, 10.0), (10.0, 10.0), (40.0, 20.0)]):
        rows.append(_row(GOAL, ref_p99, "reference", rep=rep, cpu=0.8, rss=45.0, p50=3.0))
        rows.append(_row(GOAL, naive_p99, "naive", rep=rep, cpu=1.0, rss=36.0, p50=3.0))
    text = tables(MACHINE, rows, [], [], 15.0, [], elapsed_s=540)
    assert "| measure | reference (median) | naive (median) | ratio reference / naive (median) " \
           "| ratio spread (min-max) | goal |" in text
    assert "3 interleaved pairs" in text
    assert _line(text, "| p99 latency |") == "| p99 latency | 10.0 ms | 10.0 ms | **1.00** | 0.50-2.00 | <= 1.0 (stretch 0.8) |"
    assert _line(text, "| server CPU |") == "| server CPU | 0.80 cores | 1.00 cores | **0.80** | 0.80-0.80 | <= 1.0 |"
    assert _line(text, "| peak RSS |").startswith("| peak RSS | 45.0 MiB | 36.0 MiB | **1.25** | 1.25-1.25 |")
    assert _line(text, "| p50 latency |").startswith("| p50 latency | 3.0 ms | 3.0 ms | **1.00** |")
    assert "took 9.0 minutes" in text


def test_a_ratio_is_taken_within_a_pair_never_across_repetitions():
    # the reference is slow in rep 0 and so is the machine for the naive server of rep 0: ratio 1.0 both times
    rows = [_row(GOAL, 30.0, "reference", rep=0), _row(GOAL, 30.0, "naive", rep=0),
            _row(GOAL, 10.0, "naive", rep=1), _row(GOAL, 10.0, "reference", rep=1)]
    text = tables(MACHINE, rows, [], [], 15.0, [])
    assert "| **1.00** | 1.00-1.00 |" in _line(text, "| p99 latency |")
    assert ratio_stats([(1.0, None), (None, 2.0), (1.0, 0)]) is None


def test_the_stalled_rows_give_reach_the_verdict_and_p99_against_the_same_repetition_without_staller():
    rows = [_row(GOAL, 10.0, "reference", rep=0), _row(GOAL, 10.0, "naive", rep=0),
            _row(STALLED, 12.0, "reference", "stalled", rep=0, dropped=["dropped: send queue exceeded"]),
            _row(GOAL, 20.0, "reference", rep=1), _row(GOAL, 10.0, "naive", rep=1),
            _row(STALLED, 20.0, "reference", "stalled", rep=1, dropped=["dropped: send queue exceeded"]),
            _row(STALLED, 30.0, "naive", "stalled", reach=0.05)]
    text = tables(MACHINE, rows, [], [], 15.0, [])
    reference = _line(text, "| reference | 2 |")
    assert "| 1.000 | dropped: send queue exceeded |" in reference
    assert reference.endswith("| 1.10 | 1.00-1.20 |")  # 12/10 and 20/20
    naive = _line(text, "| naive | 1 |")
    assert "0.050 (the room froze) | not dropped |" in naive


def test_the_plan_interleaves_the_servers_and_alternates_which_goes_first():
    runs = plan(3, ["goal", "stalled", "small"], ["reference", "naive"])
    assert runs == [(0, "goal", "reference"), (0, "goal", "naive"), (0, "stalled", "reference"),
                    (1, "goal", "naive"), (1, "goal", "reference"), (1, "stalled", "reference"),
                    (2, "goal", "reference"), (2, "goal", "naive"), (2, "stalled", "reference"),
                    (None, "stalled", "naive"), (None, "small", "reference"), (None, "small", "naive")]

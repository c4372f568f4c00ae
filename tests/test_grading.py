"""lab.grading (points from a junit report) and `chatlab grade`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.grading import EXERCISES, GradingError, find_exercise, parse_junit, report

ROOT = Path(__file__).resolve().parent.parent

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="tests.graded.test_ex01_echo" name="test_a"/>
  <testcase classname="tests.graded.test_ex01_echo" name="test_b"><failure message="boom">What the test did: ...</failure></testcase>
  <testcase classname="tests.graded.test_ex01_echo" name="test_c"/>
  <testcase classname="tests.graded.test_ex01_echo" name="test_wire"><skipped message="needs privileges"/></testcase>
  <testcase classname="tests.graded.test_ex01_echo" name="test_d"/>
  <testcase classname="tests.graded.test_ex03_broadcast" name="test_x"><error message="fixture">setup failed</error></testcase>
  <testcase classname="tests.unit.test_other" name="test_not_graded"/>
</testsuite></testsuites>"""


def test_points_are_the_share_of_tests_that_ran_and_passed():
    scores = parse_junit(JUNIT)
    ex01, ex03 = scores["ex01"], scores["ex03"]
    assert [t.name for t in ex01.passed] == ["test_a", "test_c", "test_d"]
    assert [t.name for t in ex01.failed] == ["test_b"] and "What the test did" in ex01.failed[0].message
    assert [t.name for t in ex01.skipped] == ["test_wire"]
    assert ex01.points == 7.5  # 10 points * 3 passed / 4 that ran: the skipped one does not count
    assert ex03.points == 0.0 and [t.name for t in ex03.failed] == ["test_x"]  # an error is a failure
    assert scores["ex02"].points == 0.0 and scores["ex02"].tests == []  # no test ran: no points
    data = report(scores, "exercises")
    assert data["total"] == 7.5 and data["max"] == sum(e.points for e in EXERCISES)
    assert data["exercises"]["ex01"] == {"title": "TCP echo server and client", "points": 7.5, "max": 10, "passed": 3,
                                         "tests": 4, "failed": ["test_b"], "skipped": ["test_wire"]}


def test_exercise_names():
    assert find_exercise("ex03").module == "ex03_broadcast"
    assert find_exercise("3").key == find_exercise("03").key == find_exercise("ex03_broadcast").key == "ex03"
    with pytest.raises(GradingError, match="ex01, ex02"):
        find_exercise("ex42")


def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", "grade", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_grade_one_exercise_json_on_solutions_and_on_the_skeleton():
    done = _grade("ex07", "--impl", "solutions", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["total"] == data["max"] == 10 and list(data["exercises"]) == ["ex07"]
    todo = _grade("ex07", "--json")  # default: exercises/
    assert todo.returncode == 1
    data = json.loads(todo.stdout)
    assert data["impl"] == "exercises" and data["total"] == 0 and data["max"] == 10
    assert "test_timestamp" in data["exercises"]["ex07"]["failed"]


def test_grade_table_and_errors():
    done = _grade("ex02", "--details")
    assert done.returncode == 1
    assert "ex02" in done.stdout and "0 / 10" in done.stdout and "NotImplementedError" in done.stdout
    bad = _grade("ex99")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("chatlab grade: no exercise called 'ex99'")
    assert "Traceback" not in bad.stderr


def test_documented_autograding_matches_the_points():
    text = (ROOT / "docs" / "EXERCISES.md").read_text()
    block = text.split("```json", 1)[1].split("```", 1)[0]
    tests = json.loads(block)["tests"]
    assert [(t["run"], t["points"]) for t in tests] == [(f"chatlab grade {e.key}", e.points) for e in EXERCISES]
    for exercise in EXERCISES:  # the table at the top of the page too
        assert f"`exercises/{exercise.module}.py` |" in text and f"| {exercise.points} |" in text

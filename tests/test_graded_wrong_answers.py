"""Every known wrong answer in tests/graded/wrong/ is caught by the graded test named for it.

A graded test grades a concept only if the classic wrong answer fails it.
Each fixture patches one mistake into a copy of the reference answer; this
runs that exercise's graded tests on the patched copy, in a child pytest,
and checks that:

- every test in the fixture's ``MUST_FAIL`` fails, with a teaching message
  (``What the test did:`` ... ``Expected:``), not a crash or a timeout;
- every other test of the exercise passes: the patched answer is the
  solution with one mistake, so a failure elsewhere means a test (or the
  fixture) is broken.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRONG = ROOT / "tests" / "graded" / "wrong"
FIXTURES = sorted(path for path in WRONG.glob("ex*.py"))
_IGNORE = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache", "*.pyc")


def fixture_facts(path: Path) -> tuple[str, list[str]]:
    """The EXERCISE and MUST_FAIL a fixture declares (read without importing it)."""
    values = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("EXERCISE", "MUST_FAIL"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    return values["EXERCISE"], list(values["MUST_FAIL"])


def patched_kit(fixture: Path, exercise: str, where: Path) -> Path:
    """A copy of the kit's tests and solutions, with FIXTURE applied to solutions/EXERCISE.py."""
    kit = where / "kit"
    kit.mkdir()
    shutil.copy(ROOT / "pyproject.toml", kit)
    shutil.copytree(ROOT / "tests", kit / "tests", ignore=_IGNORE)
    shutil.copytree(ROOT / "solutions", kit / "solutions", ignore=_IGNORE)
    shutil.copy(fixture, kit / "solutions" / "_wrong.py")
    with open(kit / "solutions" / f"{exercise}.py", "a", encoding="utf-8") as module:
        module.write("\n\n# --- a known wrong answer, patched in by tests/test_graded_wrong_answers.py\n"
                     "import sys as _sys\nfrom ._wrong import apply as _apply_wrong\n"
                     "_apply_wrong(_sys.modules[__name__])\n")
    return kit


def run_graded(kit: Path, exercise: str, report: Path) -> tuple[dict[str, tuple[str, str]], str]:
    """Run the exercise's graded tests in KIT; map each test name to (outcome, message).

    A parametrized test is one name: "failed" (with the first failure's
    message) if any of its cases failed, else "passed" if any passed.
    """
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"tests/graded/test_{exercise}.py", "--impl=solutions",
         f"--junitxml={report}", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "junit_family=xunit1"],
        cwd=kit, capture_output=True, text=True, timeout=280,
    )
    output = done.stdout[-3000:] + done.stderr[-2000:]
    assert report.exists(), f"the graded run produced no report:\n{output}"
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        name = case.get("name", "?").split("[")[0]
        if problem is not None:
            outcome = ("failed", f"[{case.get('name')}]\n" + (problem.text or problem.get("message") or ""))
        elif case.find("skipped") is not None:
            outcome = ("skipped", "")
        else:
            outcome = ("passed", "")
        rank = {"failed": 2, "passed": 1, "skipped": 0}
        if name not in results or rank[outcome[0]] > rank[results[name][0]]:
            results[name] = outcome
    return results, output


def test_every_fixture_names_an_exercise_and_tests_that_exist():
    from lab.grading import EXERCISES

    modules = {e.module for e in EXERCISES}
    assert FIXTURES, "no wrong-answer fixtures found"
    for fixture in FIXTURES:
        exercise, must_fail = fixture_facts(fixture)
        assert exercise in modules, f"{fixture.name}: EXERCISE {exercise!r} is not an exercise"
        tests = (ROOT / "tests" / "graded" / f"test_{exercise}.py").read_text()
        for name in must_fail:
            assert f"def {name}(" in tests, f"{fixture.name}: no graded test called {name}"
        assert "def apply(module)" in fixture.read_text(), f"{fixture.name}: no apply(module)"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_the_graded_tests_catch_the_wrong_answer(fixture, tmp_path):
    exercise, must_fail = fixture_facts(fixture)
    kit = patched_kit(fixture, exercise, tmp_path)
    results, output = run_graded(kit, exercise, tmp_path / "report.xml")
    missing = [name for name in must_fail if name not in results]
    assert not missing, f"these tests did not run: {missing}\n{output}"
    not_caught = [name for name in must_fail if results[name][0] != "failed"]
    assert not not_caught, (
        f"{fixture.name} is a known wrong answer, yet these graded tests PASS on it, so they cannot tell it "
        f"from a right one: {not_caught}")
    untaught = [name for name in must_fail if "What the test did:" not in results[name][1]
                or "Expected:" not in results[name][1]]
    assert not untaught, (
        f"these tests failed on {fixture.name} without a teaching message (a crash or a timeout?): "
        + "\n".join(f"{name}:\n{results[name][1][-1500:]}" for name in untaught))
    collateral = {name: message for name, (outcome, message) in results.items()
                  if name not in must_fail and outcome == "failed"}
    assert not collateral, (
        f"{fixture.name} must differ from the solution by one mistake, yet these other tests failed too:\n"
        + "\n".join(f"{name}:\n{message[-1500:]}" for name, message in collateral.items()))

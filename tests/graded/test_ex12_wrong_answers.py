"""The graded checks of exercise 12 fail on each classic wrong answer (tests/graded/ex12_wrong_answers.py).

A check that passes on a wrong answer grades nothing.  Each wrong answer is
applied to a fresh copy of the reference answer (solutions/), and every check
named for it must fail.  This proves the tests, not a student's code: it
runs against solutions/ only, and is skipped when grading exercises/ (the
skeleton check runs the graded suite there) or where solutions/ is absent (a
student release).  Not counted in any score (``chatlab grade`` counts
test_ex12_reliable.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.graded import ex12_wrong_answers as wrong
from tests.graded import test_ex12_reliable as graded
from tests.graded.teach import load

pytestmark = [pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "solutions" / "ex12_reliable.py"


def fresh_copy(tag: str):
    """A new module object executed from the reference answer's file (patching it leaves the real one alone)."""
    name = f"ex12_reliable_wrong_{tag}"
    spec = importlib.util.spec_from_file_location(name, REFERENCE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture
def reference(impl):
    if impl != "solutions" or not REFERENCE.exists():
        pytest.skip("proves the graded tests against solutions/ (run with --impl solutions, in the instructor's kit)")
    return load("solutions", graded.MODULE)


@pytest.mark.parametrize("mistake", list(wrong.CAUGHT_BY), ids=lambda f: f.__name__)
def test_each_wrong_answer_fails_the_checks_named_for_it(reference, mistake):
    for check_name in wrong.CAUGHT_BY[mistake]:
        module = fresh_copy(mistake.__name__)
        mistake(module)
        try:
            getattr(graded, check_name)(module)
        except pytest.fail.Exception as failed:
            message = str(failed)
        else:
            pytest.fail(f"{check_name} passed on the wrong answer {mistake.__name__}: {mistake.__doc__}")
        assert "FAILED" in message and "Expected:" in message, message


def test_the_checks_pass_on_an_untouched_copy(reference):
    names = sorted({name for names in wrong.CAUGHT_BY.values() for name in names})
    for check_name in names:
        getattr(graded, check_name)(fresh_copy("untouched"))

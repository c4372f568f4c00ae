"""Every graded test must FAIL on the generated skeleton (exercises/).

A graded test that passes on code that only raises NotImplementedError
cannot tell a finished exercise from an unfinished one: it gives points for
nothing.  This runs the whole graded suite against exercises/ in a child
pytest and names any test that passed.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(170)
def test_no_graded_test_passes_on_the_skeleton(tmp_path):
    report = tmp_path / "skeleton.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/graded", "--impl=exercises", f"--junitxml={report}",
         "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit1"],
        cwd=ROOT, capture_output=True, text=True, timeout=160,
    )
    assert report.exists(), f"the graded run produced no report:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    passed, failed = [], []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is None:
            passed.append(name)
    assert not passed, "these graded tests PASS on the unfinished skeleton, so they cannot fail:\n  " + "\n  ".join(passed)
    assert len(failed) >= 40, f"expected the whole graded suite to run and fail; only {len(failed)} failed:\n{result.stdout[-3000:]}"

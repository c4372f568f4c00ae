"""Exercise 9's captures are what their script builds, and tshark still reads them as the stored .tshark.tsv.

The graded ex09 tests compare a student's RTT samples, bytes in flight,
retransmissions and relative numbers with tshark's, stored beside each
capture.  This checks, with the installed tshark, that the stored values
are tshark's own: if a tshark upgrade ever reads the captures differently,
this fails (and `python tests/graded/captures/make_ex09_captures.py`
rewrites them) instead of the graded tests silently grading against stale
numbers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "graded" / "captures" / "make_ex09_captures.py"


def test_ex09_captures_and_tshark_agree():
    if shutil.which("tshark") is None:
        if os.environ.get("CI"):
            pytest.fail("tshark is not installed in CI (it is the reference the ex09 captures are checked with)")
        pytest.skip("tshark is not installed (apt install tshark): the stored values cannot be re-checked")
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (
        f"the ex09 captures or tshark's reading of them changed; run `python {SCRIPT.relative_to(ROOT)}` "
        f"and review the diff:\n{done.stdout}{done.stderr}")

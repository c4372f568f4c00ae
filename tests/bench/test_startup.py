"""bench/startup.py measures what it says: every row's command ran, and its heavy-module check imported it."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench.startup import startup  # noqa: E402


def test_every_row_ran_and_its_imports_were_checked():
    rows = startup(repeat=1)
    assert [row["command"] for row in rows if not row["ok"]] == []
    # "(cannot import)" meant the check imported a module that does not exist (lab.client, moved to lab.tcp)
    assert [row["command"] for row in rows if row["heavy_modules"] == "(cannot import)"] == [], rows

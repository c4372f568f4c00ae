"""Paths, environment switches and constants shared by the notebook helpers."""

from __future__ import annotations

import os
from pathlib import Path


LESSON_DATA = Path(__file__).resolve().parents[1] / "data" / "lessons"  # lab/data/lessons
RECORD_ENV = "CHATLAB_RECORD_LESSONS"  # set to a directory: live captures are saved there
FORCE_RECORDED_ENV = "CHATLAB_RECORDED"  # set to 1: recorded captures and the loopback experiment, even as root
NETLAB_PREFIX_ENV = "CHATLAB_NETLAB_PREFIX"  # lowercase letters and digits: another prefix (the tests use their own)
NETLAB_PREFIX = os.environ.get(NETLAB_PREFIX_ENV) or "nblab"  # namespaces made by notebooks: nblabPID-router, ...
SETTLE = 0.15  # a capture is "settled" when no packet arrived for this long
HOST = "127.0.0.1"

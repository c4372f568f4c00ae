"""The one wait of the tests: poll a condition until it holds, with a bounded deadline (never sleep and hope)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout: float = 10.0, every: float = 0.01) -> T:
    """Poll ``condition()`` every EVERY seconds until it returns something true, and return that.

    AssertionError naming WHAT when TIMEOUT seconds pass first.  The
    condition is tried once more at the deadline, so a slow machine that
    wakes up late still sees it hold.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(every)

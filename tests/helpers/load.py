"""Fixtures for the load tests: chat servers on loopback, and `chatlab load` as a process."""

from __future__ import annotations

import json
import subprocess
import sys




def chatlab_load(port: int, *args: str, timeout: float = 60) -> tuple[int, dict | str, str]:
    """Run `python -m lab load 127.0.0.1 --port PORT ARGS...`; return (status, JSON report or stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "lab", "load", "127.0.0.1", "--port", str(port), *args],
                          capture_output=True, text=True, timeout=timeout)
    out = done.stdout
    if "--json" in args and done.returncode in (0, 1):
        out = json.loads(out)
    return done.returncode, out, done.stderr

"""`chatlab doctor`'s loopback check says what a student needs to know.

It used to print lo's operstate ("lo is unknown; 127.0.0.1 works"): "unknown"
is what Linux reports for lo on every machine, and means nothing to a student.
The check now connects to 127.0.0.1 for real; in a fresh network namespace,
where lo is down, it must fail with the fix.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys

import pytest


def _doctor(prefix: list[str] = ()) -> tuple[int, dict]:
    done = subprocess.run([*prefix, sys.executable, "-m", "lab", "doctor", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, {check["name"]: check for check in json.loads(done.stdout)["checks"]}


def test_loopback_says_that_this_machine_can_connect_to_itself():
    _, checks = _doctor()
    loopback = checks["loopback"]
    assert loopback["ok"], loopback
    assert "127.0.0.1 works" in loopback["detail"] and "connect to itself" in loopback["detail"]
    assert "unknown" not in loopback["detail"]


@pytest.mark.privileged
def test_loopback_down_in_a_fresh_namespace_fails_with_the_fix():
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    # A new network namespace has only lo, and lo is down; it disappears with the process.
    code, checks = _doctor(["unshare", "--net"])
    loopback = checks["loopback"]
    assert not loopback["ok"] and code == 1, loopback
    assert "lo is down" in loopback["detail"] and loopback["fix"] == "sudo ip link set lo up", loopback


@pytest.mark.privileged
def test_loopback_up_in_a_fresh_namespace_passes():
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    up_then_doctor = f"ip link set lo up && exec {shlex.quote(sys.executable)} -m lab doctor --json"
    done = subprocess.run(["unshare", "--net", "sh", "-c", up_then_doctor], capture_output=True, text=True,
                          timeout=120)
    loopback = {c["name"]: c for c in json.loads(done.stdout)["checks"]}["loopback"]
    assert loopback["ok"], loopback

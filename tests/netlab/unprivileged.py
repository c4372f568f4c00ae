"""Run a command as an ordinary user, to check what a student without root sees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

NOBODY = 65534


def as_unprivileged(argv: list[str], cwd: str) -> list[str]:
    """``argv`` as it runs for a user without root: as is, or via setpriv when we are root.

    Skips the test when that user could not even import the kit (a checkout
    under /root is not readable by others): that says nothing about our
    messages.
    """
    if os.geteuid() != 0:
        return argv
    if not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop privileges")
    wrapped = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run([*wrapped, sys.executable, "-c", "import lab.cli, rich"], cwd=cwd,
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"user {NOBODY} cannot import the kit from {cwd} (not readable by others)")
    return [*wrapped, *argv]

"""Run a command as an ordinary user, to check what a student without root sees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

NOBODY = 65534


def as_unprivileged(argv: list[str], cwd: str) -> list[str]:
    """``argv`` as it runs without the privileges namespaces need.

    As an ordinary user, ``argv`` runs as is.  As root, it runs as user
    nobody (what a student has) via setpriv; when nobody cannot read the
    checkout (a clone under /root), it runs as root with every capability
    dropped instead (what root in a restricted container has).  Either way
    the command must explain itself in one line.
    """
    if os.geteuid() != 0:
        return argv
    if not shutil.which("setpriv"):
        pytest.fail("running as root and setpriv (util-linux) is missing: cannot drop privileges")
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run([*as_nobody, sys.executable, "-c", "import lab.cli, rich"], cwd=cwd,
                           capture_output=True, text=True, timeout=30)
    if probe.returncode == 0:
        return [*as_nobody, *argv]
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *argv]


def explains_privileges(message: str) -> bool:
    """The one line says how to get the privileges (sudo) or which are missing."""
    return "sudo" in message or "CAP_SYS_ADMIN" in message

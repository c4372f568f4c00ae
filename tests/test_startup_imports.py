"""The chat paths never import heavy packages (so `chatlab client/server` start fast).

Not a timing test: bench/run.py measures the start-up time; this checks the
cause of a slow start, which is deterministic.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CHAT_PATHS = ["lab.tcp.server", "lab.tcp.client", "lab.commands.server", "lab.commands.client", "lab.cli"]
HEAVY = ["scapy", "jupyter", "jupyter_client", "IPython", "ipykernel", "nbclient", "matplotlib", "numpy",
         "cryptography"]


@pytest.mark.parametrize("module", CHAT_PATHS)
def test_chat_path_imports_no_heavy_package(module):
    # a fresh interpreter: this test process has imported who knows what already
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"importing {module} loads {done.stdout.strip()}"


def test_the_check_can_fail():
    # the same probe sees a heavy module when one is imported
    code = f"import sys, scapy; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "scapy" in done.stdout.split()

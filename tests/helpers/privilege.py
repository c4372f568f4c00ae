"""Can this process capture packets and create network namespaces?"""

from __future__ import annotations

import os
import shutil


def _has_capability(bit: int) -> bool:
    """True if the effective capability set of this process has ``bit``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except OSError:
        pass
    return False


CAP_NET_ADMIN = 12
CAP_NET_RAW = 13


def privilege_problem() -> str | None:
    """None when capture and namespaces are possible, else what is missing."""
    if os.geteuid() != 0 and not (_has_capability(CAP_NET_RAW) and _has_capability(CAP_NET_ADMIN)):
        return "not root and no CAP_NET_RAW + CAP_NET_ADMIN (run the tests with sudo, or in CI)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    return None

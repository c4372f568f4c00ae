"""Can this process capture packets and create network namespaces?"""

from __future__ import annotations

import os
import shutil

from lab.net.privileges import CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, has_capabilities


def privilege_problem() -> str | None:
    """None when capture and namespaces are possible, else what is missing."""
    if os.geteuid() != 0 and not has_capabilities(CAP_NET_RAW, CAP_NET_ADMIN):
        return "not root and no CAP_NET_RAW + CAP_NET_ADMIN (run the tests with sudo, or in CI)"
    if not has_capabilities(CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN):
        return "root without CAP_NET_RAW, CAP_NET_ADMIN and CAP_SYS_ADMIN (a restricted container?)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    return None

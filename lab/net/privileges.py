"""What this process is allowed to do: Linux capabilities, read from /proc.

Being root is not enough inside a container that dropped capabilities, and
a student may hold one capability without being root (``setcap`` on the
venv's interpreter), so we look at the effective capability set itself.
"""

from __future__ import annotations

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21


def effective_capabilities() -> int:
    """The bit mask of this process's effective capabilities (0 if unknown)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def has_capabilities(*bits: int) -> bool:
    """True if every capability in ``bits`` is in the effective set."""
    mask = effective_capabilities()
    return all(mask >> bit & 1 for bit in bits)


def grant_capture_command() -> str:
    """The command that lets this Python capture packets without sudo.

    ``setcap`` marks a file, so it must be this interpreter's own file: in a
    venv made with ``--copies`` (as the Makefile does) it is.  In a venv of
    symlinks the capability would land on the system's Python, for every
    program it runs; say so instead of suggesting it blindly.
    """
    import os
    import sys

    command = f"sudo setcap cap_net_raw,cap_net_admin=eip {sys.executable}"
    if os.path.islink(sys.executable):
        command += (" (this venv links to the system's Python, which would then let every Python program capture:"
                    " recreate it with `python3 -m venv --copies .venv` first)")
    return command

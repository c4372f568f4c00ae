"""lab/net/privileges.py: capabilities read from /proc agree with what the kernel lets us do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from lab.net.privileges import (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN,
                                grant_capture_command, has_capabilities)

# Checked in a fresh interpreter: the capability bits, and whether a raw packet socket
# (what capture needs, CAP_NET_RAW) can really be opened.
PROBE = """
import socket
from lab.net.privileges import CAP_NET_RAW, effective_capabilities, has_capabilities
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    raw = True
except PermissionError:
    raw = False
print(has_capabilities(CAP_NET_RAW), raw, effective_capabilities())
"""


def probe(prefix: list[str]) -> tuple[str, str, int]:
    out = subprocess.run([*prefix, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=30,
                         cwd=os.getcwd())
    assert out.returncode == 0, out.stderr
    says, can, mask = out.stdout.split()
    return says, can, int(mask)


def test_the_capability_bits_are_the_kernels_numbers():
    assert (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN) == (12, 13, 21)  # include/uapi/linux/capability.h


def test_cap_net_raw_is_reported_exactly_when_a_raw_socket_opens():
    says, can, _mask = probe([])
    assert says == can, "has_capabilities(CAP_NET_RAW) must say what the kernel allows"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to drop capabilities")
def test_root_without_capabilities_is_told_apart_from_root():
    # root in a restricted container: uid 0, but no capabilities at all
    says, can, mask = probe(["setpriv", "--bounding-set=-all", "--inh-caps=-all"])
    assert (says, can, mask) == ("False", "False", 0)


def test_no_capabilities_asked_is_always_true():
    assert has_capabilities()


def test_the_grant_command_names_this_interpreter(monkeypatch, tmp_path):
    command = grant_capture_command()
    assert command.startswith("sudo setcap cap_net_raw,cap_net_admin=eip ")
    assert sys.executable in command
    link = tmp_path / "python3"
    link.symlink_to(shutil.which("python3") or sys.executable)
    monkeypatch.setattr(sys, "executable", str(link))
    warned = grant_capture_command()
    assert "links to the system's Python" in warned and "--copies" in warned, \
        "setcap on a symlinked venv would mark the system's Python: say so"

"""lab.craft.flood for real: the SYN flood with and without cookies, and Ctrl-C in the middle of it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.craft.flood import syn_flood
from lab.craft.guard import TABLE
from lab.net.netlab import Netlab, list_namespaces
from tests.craft.conftest import craft_table_on_the_machine, unique_prefix

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[2]


def test_syn_flood_with_and_without_cookies(net):
    run = syn_flood(net, backlog=4, flood=16, honest_timeout=2.5)
    off, on = run.phases
    assert not off.connected and off.counters.get("TcpExtTCPReqQFullDrop", 0) > 0, off
    assert on.connected and on.accepted and on.counters.get("TcpExtSyncookiesRecv", 0) >= 1, on
    assert run.synacks_to_attacker >= 4 and run.guard_dropped >= run.synacks_to_attacker
    cookies = net.exec("server", ["sysctl", "-n", "net.ipv4.tcp_syncookies"]).stdout.strip()
    assert cookies == "1", "the server's namespace keeps the default after the experiment"


SCRIPT = """
import sys
from lab.craft.flood import syn_flood
from lab.net.netlab import Netlab, sigterm_as_interrupt
with sigterm_as_interrupt(), Netlab(prefix=sys.argv[1], clients=2) as net:
    print("ready", flush=True)
    syn_flood(net, honest_timeout=30)
"""


def test_ctrl_c_in_the_middle_leaves_nothing():
    prefix = unique_prefix("i")
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, prefix], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        attacker = f"{prefix}-client2"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the flood is under way once the guard is in the attacker host
            listed = subprocess.run(["ip", "netns", "exec", attacker, "nft", "list", "tables"],
                                    capture_output=True, text=True, timeout=10).stdout
            if TABLE in listed:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the flood never started")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        left = [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        Netlab(prefix=prefix, clients=2).down()  # whatever happened, the machine is clean after the test
    assert proc.returncode != 0
    assert not left, f"Ctrl-C left namespaces behind: {left}"
    assert not craft_table_on_the_machine()


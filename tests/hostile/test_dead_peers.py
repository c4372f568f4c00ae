"""Peers that die without a word: kill -9 mid-message, and a peer that vanishes (no FIN, no RST)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest

from tests.helpers.chat import LineClient
from tests.hostile.test_hostile import closed_event

KILLED_CLIENT = r"""
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"victim\n")
time.sleep(0.3)
s.sendall(b"this line never ends")
print("ready", flush=True)
time.sleep(60)
"""


def test_kill_9_mid_message(start_server):
    server = start_server()
    bob = LineClient(server.address[1], "bob")
    victim = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, str(server.address[1])],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout.readline().strip() == "ready"
        bob.expect("victim joined")
        os.kill(victim.pid, signal.SIGKILL)  # the kernel closes its socket for it
    finally:
        victim.wait(10)
    line = bob.expect(r"\*\*\* victim left")
    # The kernel sends FIN for a killed process, or RST if data was left unread.
    assert "(closed:" in line or "(reset:" in line
    assert not any("never ends" in l for l in bob.lines(0.3)), "a line without its end is never relayed"
    bob.send("/list")
    bob.expect("1 online: bob")


@pytest.mark.privileged
def test_a_peer_that_vanishes_is_announced_as_timed_out(start_server):
    """No FIN, no RST: packets to and from the peer just stop (a pulled cable).

    The server's TCP keepalive probes go unanswered and recv() fails with
    ETIMEDOUT.  We make the peer vanish with a temporary nftables table that
    drops its packets on loopback.
    """
    server = start_server(keepalive_idle=1, keepalive_interval=1, keepalive_count=2)
    port = server.address[1]
    bob = LineClient(port, "bob")
    ghost = LineClient(port, "ghost")
    bob.expect("ghost joined")
    ghost_port = ghost.sock.getsockname()[1]
    table = f"chatlab_test_{uuid.uuid4().hex[:8]}"
    rules = (f"table inet {table} {{\n chain input {{\n type filter hook input priority -10;\n"
             f" tcp sport {ghost_port} drop\n tcp dport {ghost_port} drop\n }}\n}}\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    try:
        line = bob.expect(r"\*\*\* ghost left", timeout=30)
        assert "(timeout:" in line
        assert closed_event(server, "ghost").how == "timeout"
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)
        ghost.close()
    assert table not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout

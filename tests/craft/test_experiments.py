"""The experiments of lab/craft, for real: namespace hosts, the kit's chat server, crafted packets.

Each test builds its own emulated network (a unique prefix) and checks that
nothing is left afterwards: no namespace, no nftables table outside them,
the machine's own sysctls untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.craft import members
from lab.craft.flood import syn_flood
from lab.craft.guard import TABLE
from lab.craft.handshake import hand_join
from lab.craft.reset import forged_resets
from lab.net.netlab import Netlab, list_namespaces

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[2]


def _prefix(tag: str) -> str:
    return f"c{tag}{os.getpid() % 100000}"


def _host_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10).stdout


def _syncookies() -> str:
    return Path("/proc/sys/net/ipv4/tcp_syncookies").read_text()


@pytest.fixture
def net():
    tables, cookies = _host_tables(), _syncookies()
    lab = Netlab(prefix=_prefix("x"), clients=2)
    lab.up()
    try:
        yield lab
    finally:
        lab.down()
    assert not [ns for ns in list_namespaces() if ns.startswith(lab.prefix + "-")]
    assert _host_tables() == tables, "an nftables table was left in the machine's own namespace"
    assert _syncookies() == cookies, "the machine's own net.ipv4.tcp_syncookies changed"


@pytest.fixture
def room(net):
    server = members.start_server(net)
    bob = members.TerminalClient(net, "client2", (net.address("server"), members.CHAT_PORT), "bob")
    try:
        bob.joined()
        yield server, bob
    finally:
        bob.stop()
        server.stop()


def _guard_tables(net, host: str) -> str:
    return net.exec(host, ["nft", "list", "tables"]).stdout


def test_a_hand_made_connection_is_an_ordinary_member(net, room):
    server, bob = room
    address = (net.address("server"), members.CHAT_PORT)
    result = hand_join(net, "client1", address, "mallory", "hello from scapy")
    assert result.reached == "closed" and result.state == "TIME-WAIT", result.problem
    assert result.guard_dropped and result.guard_dropped > 0, "the guard rule never counted a segment"
    assert TABLE not in _guard_tables(net, "client1"), "the guard rule stayed after the experiment"
    assert bob.wait_for("<mallory> hello from scapy", 3), bob.lines()
    accepted = members.wait_event(server, lambda e: e["kind"] == "accepted" and tuple(e["client"]) == result.local)
    named = members.wait_event(server, lambda e: e["kind"] == "named" and e["conn"] == accepted["conn"])
    closed = members.wait_event(server, lambda e: e["kind"] == "closed" and e["conn"] == accepted["conn"])
    assert named["name"] == "mallory" and closed["how"] == "fin"


def test_without_the_guard_our_own_kernel_resets(net, room):
    result = hand_join(net, "client1", (net.address("server"), members.CHAT_PORT), "m", "x", guard=False,
                       port=61001)
    senders = [(s.sender, s.flags) for s in result.steps]
    assert ("our kernel", "R") in senders, senders
    assert senders[-1] == ("server", "R"), "the server did not reset our late ACK"


def test_the_classic_mistakes_get_the_servers_answer(net, room):
    address = (net.address("server"), members.CHAT_PORT)
    wrong_ack = hand_join(net, "client1", address, "m", "x", ack_offset=-1, port=61002)
    last = wrong_ack.steps[-1]
    assert (last.sender, last.flags, last.seq) == ("server", "R", wrong_ack.server_isn), \
        "an unacceptable ACK in the handshake: RST with seq = that ACK (RFC 9293 3.10.7.3)"
    early = hand_join(net, "client1", address, "mallory", "x", seq_offset=-1, port=61003)
    assert any("you are allory" in line for line in early.lines), early.lines


def test_forged_resets(net):
    run = forged_resets(net)
    tries = {t.kind: t for t in run.tries}
    assert tries["outside"].answer == "none" and not tries["outside"].member_left
    assert tries["in_window"].challenge_ack and not tries["in_window"].member_left
    assert tries["exact"].member_left and run.closed_event["how"] == "rst"
    assert "reset" in run.room_saw


def test_a_forged_reset_ends_a_tls_connection_too(net):
    run = forged_resets(net, tls=True, kinds=("exact",))
    assert run.tries[0].member_left and run.closed_event["how"] == "rst"


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
    prefix, tables = _prefix("i"), _host_tables()
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
    assert _host_tables() == tables

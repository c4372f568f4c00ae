"""Shared set-up of the lab.craft experiments: an emulated network of the test's own, checked clean afterwards.

Each test builds its own network (a unique prefix) and checks that nothing is
left: no namespace, no nftables table in the machine's own namespace, the
machine's own net.ipv4.tcp_syncookies untouched.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lab.craft import members
from lab.net.netlab import Netlab, list_namespaces


def unique_prefix(tag: str) -> str:
    """A namespace prefix no other test run uses."""
    return f"c{tag}{os.getpid() % 100000}"


def host_tables() -> str:
    """nftables tables of the machine's own namespace."""
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10).stdout


def _syncookies() -> str:
    return Path("/proc/sys/net/ipv4/tcp_syncookies").read_text()


@pytest.fixture
def net():
    tables, cookies = host_tables(), _syncookies()
    lab = Netlab(prefix=unique_prefix("x"), clients=2)
    lab.up()
    try:
        yield lab
    finally:
        lab.down()
    assert not [ns for ns in list_namespaces() if ns.startswith(lab.prefix + "-")]
    assert host_tables() == tables, "an nftables table was left in the machine's own namespace"
    assert _syncookies() == cookies, "the machine's own net.ipv4.tcp_syncookies changed"


@pytest.fixture
def room(net):
    """The chat server in "server" and bob, a real chatlab client, in "client2"."""
    server = members.start_server(net)
    bob = members.TerminalClient(net, "client2", (net.address("server"), members.CHAT_PORT), "bob")
    try:
        bob.joined()
        yield server, bob
    finally:
        bob.stop()
        server.stop()

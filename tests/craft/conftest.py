"""Shared set-up of the lab.craft experiments: an emulated network of the test's own, checked clean afterwards.

Each test builds its own network (a unique prefix) and checks that nothing is
left: no namespace, no guard table in the machine's own namespace, the
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


def craft_table_on_the_machine() -> bool:
    """Is lab.craft's nftables table in the machine's own namespace?  (It must only ever be in lab hosts.)

    Only our table's name is looked for: other programs on the machine may
    add and remove tables of their own while the test runs.
    """
    from lab.craft.guard import TABLE

    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10).stdout
    return f"table inet {TABLE}" in listed.splitlines()


def _syncookies() -> str:
    return Path("/proc/sys/net/ipv4/tcp_syncookies").read_text()


@pytest.fixture
def net():
    cookies = _syncookies()
    lab = Netlab(prefix=unique_prefix("x"), clients=2)
    lab.up()
    try:
        yield lab
    finally:
        lab.down()
    assert not [ns for ns in list_namespaces() if ns.startswith(lab.prefix + "-")]
    assert not craft_table_on_the_machine(), "the guard's nftables table reached the machine's own namespace"
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

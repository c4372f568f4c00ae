"""lab/net/addresses.py: host:port as people type it, and where a server can be reached."""

from __future__ import annotations

import doctest
import ipaddress
import socket
import subprocess
import sys

from lab.net import addresses
from lab.net.addresses import Address, host_port, interface_addresses, reachable


def test_docstring_examples():
    assert doctest.testmod(addresses).failed == 0


def test_host_port_brackets_ipv6_only():
    assert host_port("10.0.0.5", 5050) == "10.0.0.5:5050"
    assert host_port("fe80::1%eth0", 80) == "[fe80::1%eth0]:80"
    assert host_port("localhost", 1) == "localhost:1"


def test_the_address_type_is_what_sockets_give():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        assert isinstance(sock.getsockname(), Address)
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6) as sock:
            try:
                sock.bind(("::1", 0))
            except OSError:  # IPv6 switched off on this machine
                return
            assert isinstance(sock.getsockname(), Address) and len(sock.getsockname()) == 4


def test_this_machine_has_its_loopback_address():
    found = interface_addresses()
    assert ("lo", "127.0.0.1") in found
    for _iface, address in found:
        ipaddress.ip_address(address.split("%")[0])  # every one is a real address
    assert not any(address.startswith("fe80") for _, address in found), "link-local IPv6 needs a scope: left out"


def test_a_server_bound_to_one_address_is_reached_there():
    assert reachable("127.0.0.1", 5050) == ["127.0.0.1:5050"]
    assert reachable("::1", 5050) == ["[::1]:5050"]


def test_a_server_bound_to_every_address_lists_each_with_its_interface():
    everywhere = reachable("0.0.0.0", 5050)
    assert "127.0.0.1:5050  (lo)" in everywhere
    assert not any(line.startswith("[") for line in everywhere), "0.0.0.0 is IPv4 only"
    both = reachable("::", 5050)
    assert "127.0.0.1:5050  (lo)" in both, ":: takes IPv4 connections too (dual stack)"


def test_importing_the_address_type_does_not_import_socket():
    # The sans-I/O cores import Address from here (the module's comment says so).
    code = "import sys, lab.net.addresses; print('socket' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False", out.stderr

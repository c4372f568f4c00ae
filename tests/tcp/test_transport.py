"""The declared Transport: plain TCP and TLS implement it, and the server and client use nothing else."""

from __future__ import annotations

import ast
import socket
import ssl
from pathlib import Path

from lab.tcp.transport import PlainTransport, Transport
from lab.tls import TlsTransport

LAB = Path(__file__).resolve().parents[2] / "lab"
DECLARED = {name for name in vars(Transport) if not name.startswith("_")}


def test_the_protocol_declares_three_methods():
    assert DECLARED == {"recv", "sendall", "close_notify"}


def test_plain_tcp_is_the_socket_itself():
    left, right = socket.socketpair()
    with left, right:
        plain = PlainTransport(left)
        assert isinstance(plain, Transport)
        plain.sendall(b"hello\n")
        assert right.recv(100) == b"hello\n"
        right.sendall(b"back\n")
        assert plain.recv(100) == b"back\n"
        assert plain.close_notify() == b""  # the FIN alone ends a plain session
        right.close()
        assert plain.recv(100) == b""


def test_tls_implements_the_same_protocol():
    left, right = socket.socketpair()
    with left, right:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        assert isinstance(TlsTransport(left, context, server_side=False, server_hostname="x"), Transport)


def test_the_server_and_the_client_call_only_what_the_protocol_declares():
    used = {}
    for path in (LAB / "tcp" / "server.py", LAB / "tcp" / "client.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            # x.transport.NAME(...)
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "transport"):
                used.setdefault(node.attr, []).append(f"{path.name}:{node.lineno}")
    assert used and set(used) <= DECLARED, {name: where for name, where in used.items() if name not in DECLARED}

"""ChatClient's connection and registration over real sockets (no terminal)."""

from __future__ import annotations

import socket
import threading

import pytest

from lab.lifecycle import EventLog
from lab.tcp.client import ChatClient, ClientError


def quiet_client(port, **options):
    from rich.console import Console

    console = Console(file=open("/dev/null", "w"), highlight=False, markup=False)
    return ChatClient("127.0.0.1", port, console=console, log=EventLog(verbosity=0), **options)


@pytest.fixture
def silent_server():
    """A server that says nothing until it gets bytes, then answers with ``reply`` (or closes)."""
    listener = socket.create_server(("127.0.0.1", 0))
    got = []

    def serve(reply):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(20)
            data = conn.recv(100)  # the client's probe
            got.append(data)
            if reply:
                conn.sendall(reply)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(100)

    def start(reply):
        thread = threading.Thread(target=serve, args=(reply,), daemon=True)
        thread.start()
        return listener.getsockname()[1], got

    yield start
    listener.close()


def test_a_tls_alert_after_the_silence_probe_means_a_tls_port(silent_server):
    # b"\x15\x03\x03": an alert record (what many TLS servers send to plain text)
    port, got = silent_server(b"\x15\x03\x03\x00\x02\x02\x46")
    client = quiet_client(port)
    client.connect()
    with pytest.raises(ClientError, match="speaks TLS: add --tls"):
        client.register(lambda problem: "alice", "alice")
    assert got == [b"\r\n\r\n\r\n"], "the probe is three empty lines, which a chat server ignores"


def test_silence_then_a_close_suggests_tls(silent_server):
    port, _ = silent_server(b"")
    client = quiet_client(port)
    client.connect()
    with pytest.raises(ClientError, match="if it runs with --tls, add --tls"):
        client.register(lambda problem: "alice", "alice")


def test_the_probe_is_harmless_on_a_chat_server(start_server):
    # a slow chat server: the probe's empty lines arrive first and are ignored
    server = start_server()
    client = quiet_client(server.address[1])
    client.connect()
    client._send(client.core.silence_probe())
    assert client.register(lambda problem: None, "alice") == "alice"
    assert server.room.names() == ["alice"]
    client.sock.close()


def test_a_refused_name_is_asked_again(start_server):
    server = start_server()
    first = quiet_client(server.address[1])
    first.connect()
    first.register(lambda problem: None, "alice")
    second = quiet_client(server.address[1])
    second.connect()
    problems = []
    assert second.register(lambda problem: problems.append(problem) or "bob", "Alice") == "bob"
    assert len(problems) == 1 and "online already" in problems[0]
    for client in (first, second):
        client.sock.close()

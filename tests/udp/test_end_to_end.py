"""The UDP chat over loopback: a real server socket, real clients (sockets and processes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from lab.udp import MAX_DATAGRAM, UdpChatClient, UdpChatServer
from tests.helpers.chat import ROOT, child_env


@pytest.fixture
def server():
    events = []
    srv = UdpChatServer("127.0.0.1", 0, on_event=lambda *e: events.append(e)).start()
    srv.events = events
    try:
        yield srv
    finally:
        srv.stop()


def test_three_clients_chat_over_loopback(server):
    clients = [UdpChatClient(server.address, name) for name in ("alice", "bob", "carol")]
    try:
        for c in clients:
            c.join()
        alice, bob, carol = clients
        alice.expect("carol joined")
        for i in range(20):
            alice.send(f"message {i}")
        for who in (bob, carol):
            who.expect("<alice> message 19")
            got = [l for l in who.lines() if "<alice>" in l]
            assert [l.rsplit(" ", 1)[1] for l in got] == [str(i) for i in range(20)]  # one datagram, one message
            assert who.core.origins["alice"].to_dict() == {"received": 20, "lost": 0, "duplicated": 0,
                                                             "out_of_order": 0, "highest": 20}
        assert not any("<alice>" in l for l in alice.lines(0.1))  # a sender does not get its own lines back
        bob.send("/msg carol just you")
        carol.expect("*bob* just you")
        bob.expect("->carol just you")
        assert not any("just you" in l for l in alice.lines(0.2))
        carol.send("/quit bye all")
        alice.expect("carol left (quit: bye all)")
        # a late joiner gets the history, as over TCP
        dave = UdpChatClient(server.address, "dave")
        clients.append(dave)
        dave.join()
        dave.expect("<alice> message 19")
        assert ("joined", dave.sock.getsockname()[:2], "dave") in server.events
    finally:
        for c in clients:
            c.close()


def test_oversized_datagram_gets_an_error_not_a_crash(server):
    c = UdpChatClient(server.address, "alice")
    try:
        c.join()
        c.sock.send(b"M 1 " + b"x" * (MAX_DATAGRAM + 100))
        c.expect("!!! too-big")
        c.send("still here")
        c.send("/list")
        c.expect("1 online: alice")
    finally:
        c.close()


def test_idle_member_expires():
    srv = UdpChatServer("127.0.0.1", 0, idle_timeout=1.0).start()
    a = UdpChatClient(srv.address, "alice")
    b = UdpChatClient(srv.address, "bob")
    try:
        a.join()
        b.join()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not any("alice left (timeout" in l for l in b.lines()):
            b.keepalive()  # bob stays, alice says nothing
            b.poll(0.3)
        assert any("alice left (timeout" in l for l in b.lines())
        assert a.sock.getsockname()[:2] not in srv.core.members
    finally:
        a.close()
        b.close()
        srv.stop()


def _client_process(port: int, name: str) -> subprocess.Popen:
    """`chatlab client --udp` with its input from a pipe."""
    return subprocess.Popen([sys.executable, "-m", "lab", "client", "127.0.0.1", "--port", str(port), "--udp",
                             "--name", name], cwd=ROOT, env=child_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_interactive_clients_as_processes(server):
    port = server.address[1]
    procs = {name: _client_process(port, name) for name in ("alice", "bob", "carol")}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(server.core.room) < 3:
            time.sleep(0.05)
        assert len(server.core.room) == 3
        procs["alice"].stdin.write("hello from a process\n/quit\n")
        procs["alice"].stdin.flush()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("hello from a process" in l for l in server.core.room.history):
            time.sleep(0.05)
        time.sleep(0.3)  # the server has relayed it; let it arrive before bob and carol quit
        for name in ("bob", "carol"):
            procs[name].stdin.write("/quit\n")
            procs[name].stdin.flush()
        outs = {name: proc.communicate(timeout=10)[0] for name, proc in procs.items()}
        assert all(proc.returncode == 0 for proc in procs.values()), outs
        for name in ("bob", "carol"):
            assert "<alice> hello from a process" in outs[name]
            assert "0 lost" in outs[name]
        assert "Traceback" not in "".join(outs.values())
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_client_says_clearly_when_nobody_listens():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # a port nobody listens on now
    proc = _client_process(port, "alice")
    out = proc.communicate(input="", timeout=30)[0]
    assert proc.returncode == 1
    assert "ICMP port unreachable" in out and "Traceback" not in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_udp_server_stops_cleanly_and_tells_members(sig):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([sys.executable, "-m", "lab", "server", "--udp", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    client = None
    try:
        started = [proc.stdout.readline() for _ in range(2)]  # the LISTENING event, then the banner
        assert f"chat server on udp 127.0.0.1:{port}" in started[1], started
        client = UdpChatClient(("127.0.0.1", port), "alice")
        client.join()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "server stopped" in out
        client.expect("--- shutdown")
    finally:
        if client:
            client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the port is free again at once (UDP has no TIME_WAIT)
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    again.bind(("127.0.0.1", port))
    again.close()

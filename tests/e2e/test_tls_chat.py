"""The chat over TLS, with real processes: certificates, verification, mix-ups."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.helpers.chat import ROOT, ChatServerProcess, LineClient, child_env, spawn_client


@pytest.fixture
def tls_dir(tmp_path):
    directory = tmp_path / "tls"
    result = subprocess.run([sys.executable, "-m", "lab", "tls", "init", "--dir", str(directory)],
                            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


@pytest.fixture
def tls_server(tmp_path, tls_dir):
    server = ChatServerProcess(tmp_path, "--tls", "--cert", str(tls_dir / "server.pem"),
                               "--key", str(tls_dir / "server-key.pem"))
    yield server
    server.stop()


def test_two_tls_clients_chat_with_verification_on(tls_server, tls_dir, children):
    ca = str(tls_dir / "ca.pem")
    alice = spawn_client(tls_server.port, "alice", "--tls", "--cafile", ca)
    children.append(alice)
    bob = spawn_client(tls_server.port, "bob", "--tls", "--cafile", ca)
    children.append(bob)
    alice.expect_exact("bob joined")
    bob.sendline("secret over TLS")
    alice.expect_exact("<bob> secret over TLS")
    note = tls_server.wait_for(lambda e: e["kind"] == "note" and "TLS handshake complete" in e["text"])
    assert "TLSv1." in note["text"]


def test_a_client_that_does_not_trust_the_ca_gets_one_clear_line(tls_server, tmp_path):
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "lab", "tls", "init", "--dir", str(other)], cwd=ROOT, env=child_env(),
                   capture_output=True, timeout=60, check=True)
    result = subprocess.run(
        [sys.executable, "-m", "lab", "client", "127.0.0.1", "--port", str(tls_server.port), "--name", "eve",
         "--tls", "--cafile", str(other / "ca.pem")],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert "TLS with 127.0.0.1" in result.stdout and "certificate" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_plain_text_on_the_tls_port_is_told_and_closed(tls_server, tls_dir, children):
    plain = socket.create_connection(("127.0.0.1", tls_server.port), timeout=10)
    plain.sendall(b"alice\r\n")
    data = b""
    while chunk := plain.recv(4096):
        data += chunk
    assert b"!!! tls-required: this port speaks TLS" in data
    closed = tls_server.wait_for(lambda e: e["kind"] == "closed")
    assert closed["how"] == "dropped" and "not a TLS client" in closed["detail"]


def test_an_idle_connection_on_the_tls_port_does_not_freeze_the_server(tls_server, tls_dir, children):
    idle = [socket.create_connection(("127.0.0.1", tls_server.port)) for _ in range(5)]  # never say hello
    time.sleep(0.2)
    ca = str(tls_dir / "ca.pem")
    alice = spawn_client(tls_server.port, "alice", "--tls", "--cafile", ca)
    children.append(alice)
    bob = spawn_client(tls_server.port, "bob", "--tls", "--cafile", ca)
    children.append(bob)
    alice.sendline("not frozen")
    bob.expect_exact("<alice> not frozen")
    for sock in idle:
        sock.close()


def test_tls_client_on_the_plain_port_gets_one_clear_line(tmp_path, tls_dir):
    server = ChatServerProcess(tmp_path)
    try:
        bob = LineClient(server.port, "bob")
        result = subprocess.run(
            [sys.executable, "-m", "lab", "client", "127.0.0.1", "--port", str(server.port), "--name", "x",
             "--tls", "--cafile", str(tls_dir / "ca.pem")],
            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert result.returncode == 1
        assert "plain text" in result.stdout, result.stdout
        assert "Traceback" not in result.stdout + result.stderr
        bob.send("/list")
        bob.expect("1 online: bob")
    finally:
        server.stop()


def test_a_plain_client_on_the_tls_port_is_told_to_add_tls(tls_server):
    # The TLS server waits in silence for a ClientHello; the client must not
    # wait its 10 s and then blame the server, but say what to do.
    result = subprocess.run(
        [sys.executable, "-m", "lab", "client", "127.0.0.1", "--port", str(tls_server.port), "--name", "alice"],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stdout
    assert f"127.0.0.1:{tls_server.port} speaks TLS: add --tls" in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "did not answer" not in result.stdout and "no answer" not in result.stdout  # not the 10 s timeout


def test_a_plain_client_without_a_name_on_the_tls_port_is_told_before_it_asks(tls_server):
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "lab", "client", "127.0.0.1", "--port", str(tls_server.port)],
                          cwd=str(ROOT), env=child_env(), encoding="utf-8", timeout=20)
    try:
        index = child.expect_exact(["speaks TLS: add --tls", "Your name: "])
        assert index == 0, "the client asked for a name on a port that speaks TLS"
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 1

"""`chatlab client --udp` in a terminal (and `nc -u`): the same screen as the TCP client, and nothing raw reaches it."""

from __future__ import annotations

import socket
import threading

import pexpect
import pytest

from lab.chat import replies
from lab.chat import wire as p
from lab.udp import UdpChatClient, UdpChatServer, decode_client, encode_challenge, encode_server_line
from tests.helpers.chat import ROOT, child_env


@pytest.fixture
def server():
    """A UDP chat server in this process (the e2e `server` fixture is the TCP one)."""
    srv = UdpChatServer("127.0.0.1", 0).start()
    try:
        yield srv
    finally:
        srv.stop()


def spawn_udp_client(port: int, name: str, width: int = 240, wait_prompt: bool = True):
    import sys

    child = pexpect.spawn(sys.executable, ["-m", "lab", "client", "127.0.0.1", "--port", str(port), "--udp",
                                           "--name", name, "-q"],
                          cwd=str(ROOT), env=child_env() | {"COLUMNS": str(width)}, encoding="utf-8", timeout=20,
                          dimensions=(50, width))
    if wait_prompt:
        child.expect_exact(f"{name}> ")
    return child


def test_the_udp_client_has_a_prompt_that_messages_do_not_garble(server, children):
    alice = spawn_udp_client(server.address[1], "alice")
    children.append(alice)
    bob = UdpChatClient(server.address, "bob")
    try:
        bob.join()
        alice.expect_exact("bob joined")
        alice.send("half-typ")  # no Enter yet
        alice.expect_exact("half-typ")
        bob.send("interrupting you")
        alice.expect_exact("<bob> interrupting you")
        alice.expect_exact("alice> half-typ")  # prompt and typed text drawn again below the message
        alice.send("ed line\r")
        bob.expect("<alice> half-typed line")
        # alice's own line is shown with a timestamp, like everyone else's copy
        alice.expect(r"\d\d:\d\d:\d\d <alice> half-typed line")
        alice.sendline("/list")
        alice.expect_exact("--- 2 online: alice, bob")  # the text, not the code ("--- list: ...")
        alice.sendline("/quit")
        alice.expect(pexpect.EOF)
        assert "--- list:" not in alice.before
    finally:
        bob.close()
    alice.close()
    assert alice.exitstatus == 0


def test_a_forged_datagram_cannot_reach_the_terminal_raw(children):
    # A "server" the test controls: what a forged datagram from the server's
    # address can carry, the client must clean as the TCP client does.
    fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fake.bind(("127.0.0.1", 0))
    fake.settimeout(10)
    joined = threading.Event()

    def serve():
        while True:
            try:
                data, peer = fake.recvfrom(2048)
            except OSError:
                return
            what = decode_client(data)
            if what is not None and type(what).__name__ == "Join":
                if what.cookie is None:
                    fake.sendto(encode_challenge("c0ffee"), peer)
                else:
                    fake.sendto(encode_server_line(1, None, replies.welcome(0, what.name, [what.name])), peer)
                    forged = p.format_public(0, "mallory", "\x1b[2J\x1b]0;pwned\x07[bold]hi[/]\x1b[31m!")
                    fake.sendto(encode_server_line(2, 1, forged), peer)
                    joined.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        alice = spawn_udp_client(fake.getsockname()[1], "alice", wait_prompt=False)
        children.append(alice)
        alice.expect_exact("<mallory> [bold]hi[/]!")
        assert joined.is_set()
        assert "\x1b[2J" not in alice.before and "\x1b]0;" not in alice.before and "\x1b[31m" not in alice.before
    finally:
        fake.close()


def test_nc_style_datagrams_end_with_a_line_end_and_a_stranger_gets_a_hint(server):
    nc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    nc.settimeout(5)
    try:
        typed = b"hello, is anyone there? how do I join this chat?\n"  # what someone types in `nc -u`
        nc.sendto(typed, server.address)
        hint, _ = nc.recvfrom(2048)
        assert hint.startswith(b"hint: ") and hint.endswith(b"\r\n") and b"J - NAME" in hint
        assert len(hint) <= len(typed), "anti-amplification: never more bytes than arrived"
        nc.sendto(b"J - nc_user " + b"." * 60 + b"\n", server.address)  # the join, typed with padding
        challenge, _ = nc.recvfrom(2048)
        assert challenge.startswith(b"C ") and challenge.endswith(b"\r\n")
        cookie = challenge.split()[1]
        nc.sendto(b"J " + cookie + b" nc_user " + b"." * 40 + b"\n", server.address)
        welcome, _ = nc.recvfrom(2048)
        assert b"--- welcome: you are nc_user" in welcome and welcome.endswith(b"\r\n")
    finally:
        nc.close()

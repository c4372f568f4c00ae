"""Exercise 3: the threaded broadcast server (see exercises/ex03_broadcast.py)."""

from __future__ import annotations

import contextlib
import time

import pytest

from tests.graded.peers import Peer
from tests.graded.teach import Story, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]

TIME = r"^\d\d:\d\d:\d\d "


@contextlib.contextmanager
def running_server(impl: str, story: Story):
    ex = load(impl, "ex03_broadcast")
    server = ex.BroadcastServer("127.0.0.1", 0)
    story.call('BroadcastServer("127.0.0.1", 0).start()', server.start,
               expected="start() to return once the server listens")
    peers: list[Peer] = []
    try:
        try:
            address = server.address
        except Exception as exc:
            story.fail("server.address to give the listening address", f"{type(exc).__name__}: {exc}",
                       "keep the listening socket in self.listener")
        story.step(f"the server listens on {address[0]}:{address[1]}")

        def connect(name: str | None) -> Peer:
            peer = Peer(address, name)
            peers.append(peer)
            story.step(f"connected {name or 'a client'}" + (f" and sent its name {name!r}" if name else ""))
            return peer

        yield server, connect
    finally:
        for peer in peers:
            peer.close()
        with contextlib.suppress(Exception):
            server.stop()


def _joined(story: Story, peer: Peer) -> None:
    line = peer.expect(TIME + r"--- welcome: ")
    story.check(line is not None, f"'HH:MM:SS --- welcome: you are {peer.label}' sent to {peer.label}", peer.transcript())
    # From the welcome on, the client is in the room: the server must have added it
    # to its list BEFORE sending the welcome, or messages sent right now may miss it.


def test_start_returns_and_listens(impl):
    story = Story("ex03_broadcast.start")
    with running_server(impl, story) as (server, connect):
        peer = connect(None)
        line = peer.expect(TIME + r"--- hello: ")
        story.check(line is not None, "the server to greet a new connection with 'HH:MM:SS --- hello: ...'", peer.transcript(),
                    "is the accept loop running in its own thread, and does _serve_client send the hello line?")


def test_name_then_welcome_and_join_announced(impl):
    story = Story("ex03_broadcast: joining")
    with running_server(impl, story) as (server, connect):
        alice = connect("alice")
        _joined(story, alice)
        bob = connect("bob")
        _joined(story, bob)
        line = alice.expect(TIME + r"\*\*\* bob joined$")
        story.check(line is not None, "alice to receive 'HH:MM:SS *** bob joined'", alice.transcript())
        story.check(
            all("bob joined" not in line for line in bob.drain(0.2)),
            "bob NOT to receive his own join announcement (broadcast excludes the sender)", bob.transcript(),
        )


def test_broadcast_reaches_everyone_but_the_sender(impl):
    story = Story("ex03_broadcast.broadcast")
    with running_server(impl, story) as (server, connect):
        peers = {name: connect(name) for name in ("alice", "bob", "carol")}
        for peer in peers.values():
            _joined(story, peer)
        peers["alice"].send("hi all")
        story.step("alice sent 'hi all'")
        for name in ("bob", "carol"):
            line = peers[name].expect(TIME + r"<alice> hi all$")
            story.check(line is not None, f"{name} to receive 'HH:MM:SS <alice> hi all'", peers[name].transcript())
        peers["bob"].send("hello alice")
        story.step("bob sent 'hello alice' (a marker: alice must see it, and not her own line before it)")
        seen_from = len(peers["alice"].seen)
        line = peers["alice"].expect(TIME + r"<bob> hello alice$", start=0)
        story.check(line is not None, "alice to receive 'HH:MM:SS <bob> hello alice'", peers["alice"].transcript())
        story.check(
            all("<alice>" not in line for line in peers["alice"].seen),
            "alice never receives her own message back", peers["alice"].transcript(),
        )
        del seen_from


def test_list_of_clients_follows_joins_and_leaves(impl):
    story = Story("ex03_broadcast: the list of clients")
    with running_server(impl, story) as (server, connect):
        alice, bob = connect("alice"), connect("bob")
        _joined(story, alice)
        _joined(story, bob)
        names = sorted(server.clients.values())
        story.step(f"read server.clients: {names}")
        story.check(names == ["alice", "bob"], "server.clients to hold alice and bob", names)
        # Read everything sent to alice first: closing a socket with unread
        # data sends RST instead of FIN (exercise 5).
        alice.expect(TIME + r"\*\*\* bob joined$")
        alice.drain(0.2)
        alice.close()
        story.step("read everything sent to alice, then closed her connection (her FIN: the server's recv() returns b'')")
        line = bob.expect(TIME + r"\*\*\* alice left \(closed\)$")
        story.check(line is not None, "bob to receive 'HH:MM:SS *** alice left (closed)'", bob.transcript())
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and len(server.clients) != 1:
            time.sleep(0.05)
        names = sorted(server.clients.values())
        story.check(names == ["bob"], "server.clients to hold only bob once alice left", names)


def test_quit(impl):
    story = Story("ex03_broadcast: /quit")
    with running_server(impl, story) as (server, connect):
        alice, bob = connect("alice"), connect("bob")
        _joined(story, alice)
        _joined(story, bob)
        alice.send("/quit")
        story.step("alice sent '/quit'")
        line = alice.expect(TIME + r"--- bye: ")
        story.check(line is not None, "alice to receive 'HH:MM:SS --- bye: see you'", alice.transcript())
        how = alice.wait_closed(3)
        story.check(how == "fin", "the server to close alice's connection after the bye (a FIN)", how)
        line = bob.expect(TIME + r"\*\*\* alice left \(quit\)$")
        story.check(line is not None, "bob to receive 'HH:MM:SS *** alice left (quit)'", bob.transcript())
        story.check(all("<alice> /quit" not in line for line in bob.seen), "'/quit' NOT relayed as a message",
                    bob.transcript())


def test_a_silent_client_does_not_block_the_others(impl):
    story = Story("ex03_broadcast: one thread per client")
    with running_server(impl, story) as (server, connect):
        connect(None)
        story.step("that client stays silent: it never sends its name")
        alice, bob = connect("alice"), connect("bob")
        _joined(story, alice)
        _joined(story, bob)
        alice.send("still here?")
        line = bob.expect(TIME + r"<alice> still here\?$")
        story.check(line is not None, "bob to receive alice's line although another client is silent",
                    bob.transcript(), "a thread per client: never wait for one client inside the accept loop")


def test_many_clients_chatting_at_once(impl):
    story = Story("ex03_broadcast: 8 clients, 5 lines each")
    with running_server(impl, story) as (server, connect):
        names = [f"user{i}" for i in range(8)]
        peers = [connect(name) for name in names]
        for peer in peers:
            _joined(story, peer)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(server.clients) < 8:
            time.sleep(0.05)
        story.step("every client sent 'NAME line K' for K = 0..4, all at once")
        for k in range(5):
            for peer in peers:
                peer.send(f"{peer.label} line {k}")
        for peer in peers:
            others = [n for n in names if n != peer.label]
            peer.expect(rf"<{others[-1]}> {others[-1]} line 4$", timeout=4)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                got = [line.split(" ", 1)[1] for line in peer.seen if "line" in line and "<" in line]
                if len(got) >= 35:
                    break
                peer.drain(0.1)
            for other in others:
                mine = [g for g in got if g.startswith(f"<{other}>")]
                wanted = [f"<{other}> {other} line {k}" for k in range(5)]
                story.check(mine == wanted, f"{peer.label} to receive {other}'s 5 lines once each, in order", mine)

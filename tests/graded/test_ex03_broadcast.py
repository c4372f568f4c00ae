"""Exercise 3: the threaded broadcast server (see exercises/ex03_broadcast.py)."""

from __future__ import annotations

import contextlib
import re
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

        def connect(name: str | None, **options) -> Peer:
            peer = Peer(address, name, **options)
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
        alice = connect("alice")
        _joined(story, alice)  # alice is in the room before bob comes: she is told he joined
        bob = connect("bob")
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


# The slow-member test: alice sends lines of LINE_BYTES in batches of BATCH; bob
# must receive each batch before alice sends the next (so bob is never more than
# one batch behind, and his own send queue never holds more than one batch).
LINE_BYTES = 900
BATCH = 50
MAX_LINES = 12_000  # ~11 MB: far more than sleepy's kernel buffers plus any sane send queue
BATCH_DEADLINE = 10.0  # generous, for a loaded machine: a working server needs milliseconds


def _alice_line(n: int) -> str:
    return f"line {n} " + "x" * (LINE_BYTES - 12)


def _numbers_received(peer: Peer) -> list[int]:
    return [int(line.split()[3]) for line in peer.seen if "<alice> line " in line]


@pytest.mark.timeout(90)
def test_a_member_that_stops_reading_is_dropped(impl):
    story = Story("ex03_broadcast: a member that stops reading")
    with running_server(impl, story) as (server, connect):
        sleepy = connect("sleepy", receive_buffer=4096)
        _joined(story, sleepy)
        story.step("sleepy (receive buffer 4 KiB) read its welcome and then never read again")
        bob, alice = connect("bob"), connect("alice")
        _joined(story, bob)
        _joined(story, alice)
        bob.expect(TIME + r"\*\*\* alice joined$")
        sent = 0
        dropped_after = None  # how many lines alice had sent when bob saw sleepy leave
        story.step(f"alice sent lines of {LINE_BYTES} bytes in batches of {BATCH}; after each batch, "
                   f"the test waited (up to {BATCH_DEADLINE:.0f} s) for bob to receive it")
        while sent < MAX_LINES:
            for _ in range(BATCH):
                alice.send(_alice_line(sent))
                sent += 1
            last = bob.expect(rf"<alice> line {sent - 1} ", timeout=BATCH_DEADLINE, start=max(0, len(bob.seen) - 2 * BATCH))
            if last is None:
                got = _numbers_received(bob)
                story.fail(
                    f"bob, who reads, to keep receiving alice's lines while sleepy does not read: "
                    f"a bounded send, and the slow member dropped",
                    f"bob received {len(got)} of the {sent} lines alice sent, then nothing for {BATCH_DEADLINE:.0f} s, "
                    f"and sleepy {'was' if dropped_after else 'was not'} dropped. The room froze: sleepy's kernel "
                    f"advertises a zero window, the server's send buffer for sleepy is full, and the server "
                    f"waits in a send to sleepy instead of relaying alice",
                    "never wait for one client while relaying: give each connection a bounded send queue "
                    "and its own writer thread, offer lines with put_nowait, drop the member when it is full",
                )
            if dropped_after is None and any(re.search(r"\*\*\* sleepy left", line) for line in bob.seen):
                dropped_after = sent
            elif dropped_after is not None:
                break  # one more batch after the drop went through: enough
        story.step(f"alice sent {sent} lines ({sent * (LINE_BYTES + 2) // 1024} KiB)")
        story.check(
            dropped_after is not None,
            "sleepy dropped once it fell too far behind, and the others told: "
            "'HH:MM:SS *** sleepy left (dropped: send queue exceeded)'",
            f"after {sent} lines ({sent * (LINE_BYTES + 2) // 2**20} MiB) sleepy was still a member; "
            f"the server keeps everything for a client that never reads, and its memory grows without bound",
            "give the send queue a maximum size (queue.Queue(MAX_QUEUED)) and drop the member when it is full",
        )
        leave = next(line for line in bob.seen if "*** sleepy left" in line)
        story.check(re.search(TIME + r"\*\*\* sleepy left \(dropped: [^)]+\)$", leave) is not None,
                    "the reason in the announcement: 'HH:MM:SS *** sleepy left (dropped: send queue exceeded)'", leave)
        story.step(f"bob saw sleepy leave after alice's line {dropped_after - 1}")
        got = _numbers_received(bob)
        story.check(got == list(range(sent)),
                    f"bob to receive every one of alice's {sent} lines, once each and in order",
                    f"{len(got)} lines; first difference at position "
                    + str(next((i for i, (a, b) in enumerate(zip(got, range(sent))) if a != b), min(len(got), sent))))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and "sleepy" in server.clients.values():
            time.sleep(0.05)
        story.check("sleepy" not in server.clients.values(), "sleepy no longer in server.clients",
                    sorted(server.clients.values()))
        story.step("sleepy read at last: everything the kernels held for it, then the end of the connection")
        how = sleepy.wait_closed(BATCH_DEADLINE)
        story.check(how in ("fin", "rst"), "sleepy's connection closed by the server (after its buffered data)",
                    f"{how}: the connection is still open")

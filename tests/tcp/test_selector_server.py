"""lab/tcp/selector_server.py: the one-thread chat, over real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from lab.peer import Peer as ChatPeer
from lab.tcp.selector_server import SelectorChatServer


@pytest.fixture
def server():
    srv = SelectorChatServer(send_limit=16 * 1024, sndbuf=4096).start()
    yield srv
    srv.stop()


def _reader(peer: ChatPeer, needle: str, found: list, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            found.extend(line for line in peer.read(quiet=0.05, limit=0.2) if needle in line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_members_chat_with_the_rooms_wording(server):
    alice = ChatPeer(server.address, "alice")
    bob = ChatPeer(server.address, "bob")
    try:
        assert any("bob joined" in line for line in alice.expect("bob joined"))
        alice.send("hello bob")
        assert bob.expect("<alice> hello bob")[-1].endswith("<alice> hello bob")
        alice.send("/msg bob psst")
        assert "*alice* psst" in bob.expect("psst")[-1]
        bob.send("/list")
        assert "2 online: alice, bob" in bob.expect("online")[-1]
        bob.send("/bogus")
        assert "!!!" in bob.expect("!!!")[-1], "an unknown command gets an error and the session goes on"
        alice.quit()
        assert "alice left (quit" in bob.expect("alice left")[-1]
    finally:
        alice.close()
        bob.close()


def test_one_thread_serves_everyone(server):
    before = {t.name for t in threading.enumerate()}
    peers = [ChatPeer(server.address, f"user{i}") for i in range(5)]
    try:
        peers[0].send("hi all")
        for peer in peers[1:]:
            peer.expect("<user0> hi all")
        started = {t.name for t in threading.enumerate()} - before
        assert started == set(), f"the server started threads per client: {started}"
        assert [t.name for t in threading.enumerate()].count("selector-loop") == 1
    finally:
        for peer in peers:
            peer.close()


def test_a_member_that_stops_reading_is_dropped_and_the_room_carries_on(server):
    """sleepy never reads: bounded by its kernel buffers + 16 KiB, then dropped; bob gets every line in order."""
    sleepy = ChatPeer(server.address, "sleepy", rcvbuf=4096)
    bob = ChatPeer(server.address, "bob")
    alice = ChatPeer(server.address, "alice")
    stop = threading.Event()
    got: list[str] = []
    try:
        bob.expect("alice joined")
        reader = _reader(bob, "<alice> line ", got, stop)
        deadline = time.monotonic() + 30
        for batch in range(30):  # 10 lines at a time, the next batch once bob has this one: bob is never slow
            for i in range(batch * 10, batch * 10 + 10):
                alice.send(f"line {i:05d} " + "x" * 380)
            while len(got) < batch * 10 + 10 and time.monotonic() < deadline:
                time.sleep(0.01)
        stop.set()
        reader.join(2)
        numbers = [int(line.split("line ")[1][:5]) for line in got]
        assert numbers == list(range(300)), f"bob received {len(numbers)} of 300 lines, or not in order"
        assert any("sleepy left (dropped: send queue exceeded)" in line for line in bob.lines)
        dropped = [e for e in server.log.of_kind("closed") if e.name == "sleepy"]
        assert dropped and dropped[0].how == "dropped" and dropped[0].detail == "send queue exceeded"
    finally:
        for peer in (sleepy, bob, alice):
            peer.close()


def test_fin_and_rst_are_told_apart(server):
    import struct

    watcher = ChatPeer(server.address, "watcher")
    polite = ChatPeer(server.address, "polite")
    rude = ChatPeer(server.address, "rude")
    try:
        watcher.expect("rude joined")
        polite.expect("rude joined")  # read everything first: closing with unread data would send an RST
        polite.close()
        assert "polite left (closed: the client closed the connection, FIN)" in watcher.expect("polite left")[-1]
        rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.close()
        assert "rude left (reset: the connection was reset, RST)" in watcher.expect("rude left")[-1]
    finally:
        watcher.close()


def test_an_unterminated_flood_is_dropped_without_stopping_the_loop(server):
    watcher = ChatPeer(server.address, "watcher")
    flooder = socket.create_connection(server.address, timeout=5)
    try:
        flooder.sendall(b"x" * 20000)  # no line end: past 8192 bytes the decoder gives up
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e.how == "dropped" for e in server.log.of_kind("closed")):
            time.sleep(0.02)
        assert any(e.how == "dropped" and "no line end" in e.detail for e in server.log.of_kind("closed"))
        other = ChatPeer(server.address, "other")
        assert "other joined" in watcher.expect("other joined")[-1], "the loop still serves everyone else"
        other.close()
    finally:
        flooder.close()
        watcher.close()


def test_stop_tells_members_and_ends_the_loop():
    srv = SelectorChatServer().start()
    peer = ChatPeer(srv.address, "alice")
    try:
        srv.stop()
        assert any("--- shutdown:" in line for line in peer.read(quiet=0.3))
        assert not any(t.name == "selector-loop" and t.is_alive() for t in threading.enumerate())
    finally:
        peer.close()

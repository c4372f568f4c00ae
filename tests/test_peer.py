"""lab/peer.py: the one scripted chat member, against real servers over real sockets."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading

import pytest

from lab.peer import Peer, PeerError, PeerProcess, PeerTimeout, is_event, is_info


class FakeServer:
    """A listening socket whose one connection the test drives byte by byte (what a broken server could send)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.conn: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.conn, _ = self.listener.accept()
        self._accepted.set()

    def side(self) -> socket.socket:
        assert self._accepted.wait(5), "the peer never connected"
        self.conn.settimeout(5)
        return self.conn

    def received(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.side().recv(count - len(data))
            assert chunk, f"the peer closed after {data!r}"
            data += chunk
        return data

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


def test_a_peer_joins_and_knows_its_ephemeral_port_and_handshake_time(start_server):
    server = start_server()
    with Peer(server.address, "alice") as alice:
        assert alice.name == "alice"
        assert alice.local[0] == "127.0.0.1" and alice.local[1] != server.address[1]
        assert alice.connect_ms > 0
        assert [re.sub(r"^\d\d:\d\d:\d\d ", "", line).split(":")[0] for line in alice.lines] == \
            ["--- hello", "--- welcome"], "joining reads the hello and the welcome, nothing more"


def test_a_line_is_the_text_and_lf_as_a_person_types_it(fake):
    peer = Peer(fake.address)
    peer.send("alice")
    assert fake.received(6) == b"alice\n", "send('alice') puts 6 bytes on the wire: the text and LF"
    peer.send_bytes(b"half")
    assert fake.received(4) == b"half", "send_bytes sends exactly the bytes given"
    peer.close()


def test_lines_are_split_at_crlf_whatever_the_recv_boundaries_and_kept_as_sent(fake):
    peer = Peer(fake.address)
    side = fake.side()
    side.sendall(b"12:00:00 <bob> one\r\n12:00:00 <bob> t")
    assert peer.expect("<bob> one") == ["12:00:00 <bob> one"]
    side.sendall(b"wo\r\n\x1b[2Jcleared?\r\nno end yet\n")
    assert peer.expect("two") == ["12:00:00 <bob> two"]
    assert peer.receive() == ["\x1b[2Jcleared?"], "lines are not cleaned: a test sees what the server sent"
    assert peer.receive(0.05) == [], "a bare LF does not end a server line (the server always sends CRLF)"
    peer.close()


def test_expect_hands_out_lines_up_to_the_match_and_keeps_the_rest(fake):
    peer = Peer(fake.address)
    fake.side().sendall(b"a\r\nb match\r\nc\r\n")
    assert peer.expect(re.compile(r"^b ")) == ["a", "b match"]
    assert peer.read(quiet=0.05) == ["c"]
    assert peer.lines == ["a", "b match", "c"]
    peer.close()


def test_expect_times_out_saying_what_arrived(fake):
    peer = Peer(fake.address, timeout=0.3)
    fake.side().sendall(b"12:00:00 *** bob joined\r\n")
    with pytest.raises(PeerTimeout, match=r"waited for 'carol' but 0.3 s passed; it received: \['12:00:00 \*\*\* bob"):
        peer.expect("carol")
    peer.close()


def test_expect_stops_at_once_when_the_server_closes(fake):
    peer = Peer(fake.address, timeout=30)
    fake.side().close()
    with pytest.raises(PeerTimeout, match=r"ended the connection \(fin\)"):
        peer.expect("never")
    assert peer.closed_by_server and peer.ended == "fin"
    peer.close()


def test_a_reset_is_told_apart_from_a_fin(fake):
    import struct

    peer = Peer(fake.address)
    side = fake.side()
    side.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    side.close()  # RST
    assert peer.read_until_closed(5) == []
    assert peer.ended == "rst"
    peer.close()


def test_a_refused_name_raises_with_the_servers_words(start_server):
    server = start_server()
    with Peer(server.address, "alice"):
        with pytest.raises(PeerError, match=r"refused the name 'ALICE': .*online already"):
            Peer(server.address, "ALICE")


def test_something_that_is_not_a_chat_server_is_named_as_such(fake):
    peer = Peer(fake.address)
    fake.side().sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(PeerError, match=r"does not look like a chat-lab server \(it sent 'SSH-2.0"):
        peer.join("alice")
    peer.close()


def test_quit_is_a_fin_fin_close_and_the_others_see_why(start_server):
    server = start_server()
    alice, bob = Peer(server.address, "alice"), Peer(server.address, "bob")
    got = bob.quit("see you")
    assert any(is_info("bye")(line) for line in got), got
    assert bob.ended == "fin", "after its bye the server closes: recv() returns b''"
    left = alice.expect(is_event("bob", "left"))[-1]
    assert left.endswith("left (quit: see you)")
    alice.close()


def test_rcvbuf_is_set_before_connect(start_server):
    server = start_server()
    with Peer(server.address, "sleepy", rcvbuf=4096) as sleepy:
        # Linux doubles the value for its bookkeeping; without the option it would be ~128 KiB (tcp_rmem)
        assert sleepy.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * 4096


def test_a_tls_peer_chats_through_the_tls_server(start_server, tmp_path):
    from lab.tls import client_context, server_context
    from lab.tls.certs import init_lab_files

    paths, _ = init_lab_files(tmp_path / "tls", hosts=["localhost"], ips=["127.0.0.1"])
    server = start_server(tls=server_context(paths.server_cert, paths.server_key))
    tls = client_context(paths.ca_cert)
    alice = Peer(server.address, "alice", tls=tls, server_hostname="localhost")
    bob = Peer(server.address, "bob", tls=tls, server_hostname="localhost")
    alice.send("secret")
    assert bob.expect("<alice> secret")[-1].endswith("<alice> secret")
    assert alice.transport.version().startswith("TLS")
    alice.close(), bob.close()


def test_a_stalled_process_keeps_data_unread_and_a_kill_resets(start_server):
    server = start_server()
    alice = Peer(server.address, "alice")
    carol = PeerProcess(server.address[1], "carol", "stalled", script=(("send", "/list"), ("expect", "--- list:")))
    try:
        alice.expect(is_event("carol", "joined"))
        assert carol.unread() == 0, "the script read the /list answer; nothing else has come yet"
        alice.send("carol, are you there?")
        assert carol.wait_unread() >= len("carol, are you there?")
        assert carol.kill() == -9
        assert "reset" in alice.expect(is_event("carol", "left"))[-1], \
            "a socket closed with unread data sends RST (RFC 1122 4.2.2.13)"
    finally:
        carol.stop()
        alice.close()


def test_ctrl_c_on_a_reading_process_ends_it_by_sigint_and_closes_with_fin(start_server):
    server = start_server()
    alice = Peer(server.address, "alice")
    dora = PeerProcess(server.address[1], "dora", "reads")
    try:
        alice.expect(is_event("dora", "joined"))
        assert dora.ctrl_c() == -2, "killed by SIGINT, as an uncaught KeyboardInterrupt ends a Python program"
        assert "FIN" in alice.expect(is_event("dora", "left"))[-1]
        assert dora.proc.stderr.read() == "", "no traceback"
    finally:
        dora.stop()
        alice.close()


def test_a_peer_process_that_cannot_join_says_why(start_server):
    server = start_server()
    holder = Peer(server.address, "taken")
    try:
        with pytest.raises(PeerError, match=r"did not join the chat: lab.peer: the server refused the name"):
            PeerProcess(server.address[1], "taken")
    finally:
        holder.close()


def test_the_command_line_refuses_a_closed_port_in_one_line():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "lab.peer", "127.0.0.1", str(port), "x"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.startswith("lab.peer: ") and "Connection refused" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_history_block_is_told_apart_by_the_client_core(start_server):
    server = start_server()
    alice = Peer(server.address, "alice")
    alice.send("first")
    alice.send("second")
    with Peer(server.address, "watcher") as watcher:  # joined after both lines reached the server
        watcher.expect("<alice> second")
    bob = Peer(server.address, "bob")
    bob.read(quiet=0.2)
    assert [line.split(" ", 1)[1] for line in bob.history] == ["<alice> first", "<alice> second"]
    assert all(line in bob.lines for line in bob.history), "history lines are handed out like any other"
    alice.close(), bob.close()


def test_reset_ends_the_connection_with_an_rst_not_a_fin(fake):
    peer = Peer(fake.address)
    side = fake.side()
    peer.reset()
    # a FIN would read as b"" (end of stream); an RST is an error
    with pytest.raises(ConnectionResetError):
        side.recv(10)
    peer.reset()  # a second reset of a closed socket is harmless

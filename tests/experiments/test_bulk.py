"""The bulk transfer: a whole book as chat lines, relayed exactly, throttled by TCP flow control."""

from __future__ import annotations

import hashlib
import threading

import pytest

from lab.chat import wire
from lab.experiments import bulk


def chat_words(text: str) -> list[str]:
    """The words of ``text`` as the chat can carry them (what clean_text leaves)."""
    return wire.clean_text(" ".join(text.split())).split()


def test_the_book_is_the_stated_public_domain_text():
    full = bulk.BOOK.read_text(encoding="utf-8")
    header, body = full.split("\n---\n", 1)
    assert "Licence: public domain" in header and "Lewis Carroll" in header
    stated = "7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0"
    assert stated in header
    original = body.replace("\n", "\r\n").encode("ascii")  # "CRLF line ends made LF; nothing else"
    assert hashlib.sha256(original).hexdigest() == stated and len(original) == 152_089
    assert bulk.book_text() == body and bulk.book_text(with_header=True) == full


def test_the_book_as_lines_loses_no_word():
    text = bulk.book_text()
    lines = bulk.paste_lines(text)
    assert 500 < len(lines) < 2000
    assert bulk.words(lines) == chat_words(text)
    for line in lines:
        assert 0 < len(line.encode()) <= wire.MAX_LINE_BYTES
        assert wire.clean_text(line) == line  # the server relays it unchanged


@pytest.mark.parametrize("text", [
    "/quit is not a command here\n\n/msg bob neither is this",
    "é" * 2000,  # one 4000-byte "word": cut between characters, never inside one
    "/" + "x" * 3000,
    "line one\r\nline two\rline three\n\n\n\nnext paragraph",
    "tab\there \x1b[31mred\x1b[0m and a NUL\x00 and a bell\x07",
    ("word " * 600).strip(),
])
def test_tricky_texts(text):
    lines = bulk.paste_lines(text, max_bytes=200)
    assert all(len(line.encode()) <= 200 and wire.clean_text(line) == line for line in lines)
    joined = "".join(bulk.words(lines))
    assert joined == "".join(chat_words(text))  # the same characters, in order
    for line in lines:
        command = wire.parse_command(line)
        assert isinstance(command, wire.Say), line


def test_paragraphs_stay_apart_and_long_ones_are_split_at_words():
    lines = bulk.paste_lines("one two\nthree\n\n" + " ".join(["four"] * 100), max_bytes=60)
    assert lines[0] == "one two three"
    assert all(line.split() == ["four"] * len(line.split()) for line in lines[1:]) and len(lines) > 2


# -- through a real server, on loopback ------------------------------------------------

def _room(config: dict):
    from lab.tcp.server import ChatServer, ServerConfig

    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, shutdown_grace=0.2, **config))
    server.start()
    return server


class _Receiver:
    """A member that reads everything in a thread and keeps the public messages of one sender."""

    def __init__(self, address, sender: str):
        from lab.peer import Peer

        self.peer = Peer(address, "reader")
        self.sender = sender
        self.texts: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.peer.closed_by_server:
            for line in self.peer.read(quiet=0.2, limit=1.0):
                parsed = wire.parse_server_line(line)
                if parsed and parsed.kind == "public" and parsed.name == self.sender:
                    self.texts.append(parsed.text)
                elif parsed and parsed.kind == "event" and parsed.name == self.sender and parsed.code == "left":
                    return

    def wait(self, timeout: float) -> list[str]:
        self.thread.join(timeout)
        return self.texts


def _paste_through_a_server(config: dict, lines: list[str], wait_acked: float) -> tuple[bulk.PasteReport, list[str]]:
    """alice pastes ``lines`` into a real server with ``config``; (her report, what another member received)."""
    from lab.peer import Peer

    server = _room(config)
    try:
        reader = _Receiver(server.address, "alice")
        alice = Peer(server.address, "alice")
        alice.sock.settimeout(None)  # flow control may hold sendall() back for a while: that is the point
        report = bulk.paste(alice.sock, lines, wait_acked=wait_acked)
        alice.send("/quit")
        got = reader.wait(wait_acked)
        alice.sock.close()
        reader.peer.sock.close()
    finally:
        server.stop()
    return report, got


def test_the_book_arrives_whole_and_in_order():
    lines = bulk.paste_lines(bulk.book_text())
    report, got = _paste_through_a_server({"rate": 100_000, "burst": 100_000}, lines, 60)
    assert report.acked_s is not None and report.lines == len(lines)
    assert got == lines, f"{len(got)} of {len(lines)} lines arrived" + (
        "" if len(got) != len(lines) else ", in another order")


def test_the_flood_limit_throttles_through_flow_control_and_loses_nothing():
    """The server reads 50 lines/s: its window closes, the sender's data waits unsent, nothing is lost."""
    lines = [f"{n:03d} " + "x" * 995 for n in range(200)]  # 200 KB: more than the server's receive buffer
    report, got = _paste_through_a_server({"rate": 50, "burst": 10}, lines, 30)
    closed = [s for s in report.samples if s.unsent > 0 and s.unacked == s.unsent]
    assert closed, "the sender never had data waiting with nothing in flight: the window never closed"
    assert report.window_closed_s > 0 and any("receive window was closed" in x for x in report.summary())
    assert got == lines


def test_the_paste_command_is_recognised_and_reports(tmp_path):
    import socket as socketmod

    shown, sent = [], []  # sent: what send_line was given; the socket only carries the queue the paste watches
    listener = socketmod.create_server(("127.0.0.1", 0))
    a = socketmod.create_connection(listener.getsockname())
    b, _ = listener.accept()
    listener.close()
    try:
        assert not bulk.run_paste_command("hello", a, sent.append, shown.append)
        assert not bulk.run_paste_command("//paste is a message", a, sent.append, shown.append)
        assert bulk.run_paste_command("/paste /no/such/file", a, sent.append, shown.append)
        assert sent == [] and shown == ["paste: cannot read /no/such/file: No such file or directory"]
        text = tmp_path / "t.txt"
        text.write_text("one\n\ntwo three\n")
        shown.clear()
        assert bulk.run_paste_command(f"/PASTE {text}", a, sent.append, shown.append)
        assert sent == ["one", "two three"]
        assert shown[0] == f"paste: sending {text}: 2 lines, 14 bytes" and "acknowledged" in shown[-1]
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("limit, closes", [({"rate": 100_000, "burst": 100_000}, False), ({"rate": 100, "burst": 10}, True)],
                         ids=["no flood limit", "flood limit: flow control"])
def test_chatlab_client_pastes_a_file(tmp_path, limit, closes):
    """`/paste FILE` typed into a real `chatlab client` process: every line reaches another member, in order."""
    import subprocess
    import sys

    lines = [f"{n:03d} " + "y" * 995 for n in range(200)]  # 200 KB: more than the server's receive buffer
    book = tmp_path / "lines.txt"
    book.write_text("\n\n".join(lines) + "\n")
    server = _room(limit)
    try:
        reader = _Receiver(server.address, "alice")
        client = subprocess.run([sys.executable, "-m", "lab", "client", "127.0.0.1", "--port", str(server.address[1]),
                                 "--name", "alice", "-q"], input=f"/paste {book}\n", capture_output=True, text=True,
                                timeout=60)
        got = reader.wait(30)
        reader.peer.sock.close()
    finally:
        server.stop()
    out = " ".join(client.stdout.split())  # the client's console wraps long lines at 80 columns
    assert client.returncode == 0 and "Traceback" not in client.stderr, client.stderr
    assert f"paste: sending {book}: 200 lines" in out and "acknowledged every byte" in out, out
    assert ("receive window was closed" in out) == closes, out
    assert got == lines, f"{len(got)} of 200 lines arrived"

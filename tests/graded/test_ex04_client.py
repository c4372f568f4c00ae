"""Exercise 4: the two-thread client (see exercises/ex04_client.py)."""

from __future__ import annotations

import queue
import socket
import time

import pytest

from tests.graded.teach import Background, Story, accept_while, close_quietly, load, recv_all, recv_until, tcp_pair

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]


class HeldInput:
    """An input that blocks like a keyboard: yields lines only when the test releases them."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()

    def type(self, line: str) -> None:
        self._queue.put(line)

    def end(self) -> None:  # Ctrl-D
        self._queue.put(None)

    def __iter__(self):
        deadline = time.monotonic() + 10  # bounded, whatever happens
        while time.monotonic() < deadline:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                return
            yield item


def test_receive_lines_frames_and_reports_fin(impl):
    ex = load(impl, "ex04_client")
    story = Story("ex04_client.receive_lines")
    client, server = tcp_pair()
    got: list[str] = []
    try:
        job = Background(ex.receive_lines, client, got.append)
        story.step("ran receive_lines(sock, on_line) in a thread")
        server.sendall(b"12:00:00 --- hello: wel")
        time.sleep(0.1)
        server.sendall(b"come\r\n12:00:01 <bob> hi\r\n12:00:02 <bob> h\xc3")
        time.sleep(0.1)
        server.sendall(b"\xa9\r\n")
        story.step("the server side sent 3 lines, cut in odd places (even inside the 2 bytes of 'é')")
        time.sleep(0.2)
        server.close()
        story.step("the server side closed its socket (a FIN)")
        story.check(job.wait(3), "receive_lines to return after the FIN (recv() returns b'')", job.outcome())
        expected = ["12:00:00 --- hello: welcome", "12:00:01 <bob> hi", "12:00:02 <bob> hé"]
        story.check(got == expected, f"on_line called with {expected!r}", got)
        story.check(job.result == "closed", "it to return 'closed'", job.outcome())
    finally:
        close_quietly(client, server)


def test_receive_lines_reports_a_reset(impl):
    ex = load(impl, "ex04_client")
    story = Story("ex04_client.receive_lines")
    client, server = tcp_pair()
    try:
        job = Background(ex.receive_lines, client, lambda line: None)
        story.step("ran receive_lines in a thread")
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        server.close()
        story.step("the server side closed with SO_LINGER 0: this sends an RST, not a FIN")
        story.check(job.wait(3), "receive_lines to return after the RST", job.outcome())
        story.check(job.result == "reset", "'reset' (recv() raised ConnectionResetError)", job.outcome())
    finally:
        close_quietly(client)


def _listen() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0))


def test_lines_arrive_while_the_user_is_not_typing(impl):
    ex = load(impl, "ex04_client")
    story = Story("ex04_client.run_client: two threads")
    listener = _listen()
    port = listener.getsockname()[1]
    keyboard = HeldInput()
    shown: list[str] = []
    conn = None
    try:
        story.step(f"ran run_client('127.0.0.1', {port}, 'alice', <keyboard>, on_line) in a thread")
        job = Background(ex.run_client, "127.0.0.1", port, "alice", keyboard, shown.append)
        conn = accept_while(listener, job, story)
        first = recv_until(conn, b"\n")
        story.step(f"the test server accepted and read {first!r}")
        story.check(first in (b"alice\r\n", b"alice\n"), "the name first: b'alice\\r\\n'", first)
        conn.sendall(b"12:00:00 <bob> are you there?\r\n")
        story.step("the server sent '12:00:00 <bob> are you there?' while the user typed nothing")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not shown:
            time.sleep(0.02)
        story.check(
            shown == ["12:00:00 <bob> are you there?"],
            "on_line called with the server's line at once, although the input is blocked",
            shown or "nothing shown",
            "start the receiver thread BEFORE looping over the input lines",
        )
        keyboard.type("yes!")
        story.step("the user typed 'yes!'")
        line = recv_until(conn, b"\n")
        story.check(line in (b"yes!\r\n", b"yes!\n"), "b'yes!\\r\\n' at the server", line)
        keyboard.end()
        story.step("the input ended (Ctrl-D)")
        rest, how = recv_all(conn, timeout=3)
        story.check(how == "fin", "the client's FIN (shutdown(SHUT_WR)) once the input ended", f"{how}, data {rest!r}")
        conn.sendall(b"12:00:02 --- bye: see you\r\n")
        story.step("the server sent a last line after the client's FIN, then closed")
        conn.close()
        conn = None
        story.check(job.wait(3), "run_client to return once the server closed", job.outcome())
        story.check(
            shown[-1:] == ["12:00:02 --- bye: see you"],
            "the last line, sent after the client's FIN, still shown (shut down only the sending side)",
            shown,
        )
        story.check(job.result == "closed", "run_client to return 'closed'", job.outcome())
    finally:
        keyboard.end()
        close_quietly(conn, listener)


def test_client_stops_when_the_server_goes_away(impl):
    ex = load(impl, "ex04_client")
    story = Story("ex04_client.run_client: server closes first")
    listener = _listen()
    port = listener.getsockname()[1]
    keyboard = HeldInput()
    conn = None
    try:
        job = Background(ex.run_client, "127.0.0.1", port, "alice", keyboard, lambda line: None, 2.0)
        story.step("ran run_client with an input that stays silent")
        conn = accept_while(listener, job, story)
        recv_until(conn, b"\n")
        conn.close()
        conn = None
        story.step("the server read the name and closed the connection (FIN)")
        keyboard.type("anyone?")
        keyboard.end()
        story.step("the user then typed 'anyone?' and Ctrl-D")
        story.check(job.wait(4), "run_client to return, not to hang", job.outcome())
        story.check(job.error is None and job.result in ("closed", "reset"),
                    "run_client to return 'closed' (or 'reset'), without raising", job.outcome())
    finally:
        keyboard.end()
        close_quietly(conn, listener)

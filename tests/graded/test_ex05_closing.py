"""Exercise 5: FIN or RST, and a clean shutdown on Ctrl-C (see exercises/ex05_closing.py)."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.graded.peers import Peer, connect
from tests.graded.teach import Background, Story, close_quietly, load, recv_all, tcp_pair

pytestmark = [pytest.mark.graded, pytest.mark.timeout(60)]

PATIENCE = 10.0  # seconds to wait for a server process to react: generous, a working one takes milliseconds

ROOT = Path(__file__).resolve().parents[2]


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_wait_for_close_tells_fin_from_rst(impl):
    ex = load(impl, "ex05_closing")
    story = Story("ex05_closing.wait_for_close")
    a, b = tcp_pair()
    try:
        b.sendall(b"12345")
        b.close()
        story.step("the peer sent 5 bytes and closed normally (a FIN)")
        got = story.call("wait_for_close(sock)", ex.wait_for_close, a, 3.0)
        story.check(tuple(got) == ("fin", 5), "('fin', 5): recv() returned the 5 bytes, then b''", got)
    finally:
        close_quietly(a, b)
    a, b = tcp_pair()
    try:
        b.sendall(b"123")
        time.sleep(0.1)
        _reset(b)
        story.step("a second peer sent 3 bytes, then closed with SO_LINGER 0 (an RST)")
        got = story.call("wait_for_close(sock)", ex.wait_for_close, a, 3.0)
        story.check(
            tuple(got)[0] == "rst", "('rst', ...): recv() raised ConnectionResetError", got,
            "catch ConnectionResetError around recv()",
        )
    finally:
        close_quietly(a)
    a, b = tcp_pair()
    try:
        story.step("a third peer stayed connected and silent")
        got = story.call("wait_for_close(sock, 0.5)", ex.wait_for_close, a, 0.5)
        story.check(tuple(got) == ("timeout", 0), "('timeout', 0) after about half a second", got)
    finally:
        close_quietly(a, b)


def test_close_with_reset_sends_an_rst(impl):
    ex = load(impl, "ex05_closing")
    story = Story("ex05_closing.close_with_reset")
    a, b = tcp_pair()
    try:
        story.call("close_with_reset(sock) on one end", ex.close_with_reset, a)
        story.step("the other end called recv()")
        data, how = recv_all(b, timeout=3)
        story.check(how == "rst", "recv() on the other end to raise ConnectionResetError (an RST arrived)",
                    f"{how}" + (" (recv() returned b'': a FIN)" if how == "fin" else ""),
                    'setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0)) before close()')
    finally:
        close_quietly(a, b)


def test_close_gracefully_half_closes_and_reads_the_rest(impl):
    ex = load(impl, "ex05_closing")
    story = Story("ex05_closing.close_gracefully")
    a, b = tcp_pair()
    try:
        job = Background(ex.close_gracefully, a, 3.0)
        story.step("ran close_gracefully(sock) in a thread")
        data, how = recv_all(b, timeout=2)
        story.check(how == "fin", "the other end's recv() to return b'' (a FIN from shutdown(SHUT_WR))",
                    f"{how} ({job.outcome()})")
        b.sendall(b"last words")
        story.step("the other end, after that FIN, sent b'last words' and closed")
        b.close()
        story.check(job.wait(3), "close_gracefully to return once the other end closed", job.outcome())
        story.check(job.result == b"last words",
                    "b'last words' returned: after shutdown(SHUT_WR) you can still receive", job.outcome())
    finally:
        close_quietly(a, b)


def test_say_goodbye_tells_every_client_then_fin(impl):
    ex = load(impl, "ex05_closing")
    story = Story("ex05_closing.say_goodbye")
    pairs = [tcp_pair() for _ in range(3)]
    gone_client, gone_server = tcp_pair()
    _reset(gone_client)
    _wait_for_state(gone_server, TCP_CLOSE)  # the RST has arrived: sending to it now fails
    try:
        story.step("made 3 connected clients, plus one whose client side already reset the connection")
        servers = [server for _, server in pairs]
        told = story.call("say_goodbye([4 server-side sockets, the reset one third])", ex.say_goodbye,
                          servers[:2] + [gone_server] + servers[2:])
        for n, (client, _) in enumerate(pairs):
            data, how = recv_all(client, timeout=2)
            story.check(b"--- shutdown: " in data, f"client {n} to receive 'HH:MM:SS --- shutdown: ...'", data)
            story.check(how == "fin", f"client {n}'s connection then ended by a FIN", how)
        story.check(told == 3, "3 clients told (the reset one is skipped, without stopping the loop)", told)
    finally:
        for client, server in pairs:
            close_quietly(client, server)
        close_quietly(gone_server)


class ServerProcess:
    """``python -c 'from IMPL.ex05_closing import main; main([PORT])'`` in a child process."""

    def __init__(self, impl: str, port: int = 0) -> None:
        # A process started in the background by a shell inherits SIGINT *ignored*, and Python then
        # installs no KeyboardInterrupt handler: install it, as an interactive `python -m` has it.
        code = (f"import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                f"from {impl}.ex05_closing import main; sys.exit(main([{str(port)!r}]))")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output = b""

    def read_until(self, marker: bytes, timeout: float = PATIENCE) -> bool:
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while marker not in self.output and time.monotonic() < deadline:
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    self.output += chunk
        finally:
            selector.close()
        return marker in self.output

    def port(self) -> int | None:
        for word in self.output.split():
            if word.startswith(b"127.0.0.1:"):
                return int(word.split(b":")[1])
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.proc.stdout.close()

    def said(self) -> str:
        return self.output.decode(errors="replace").strip() or "(nothing)"


@contextlib.contextmanager
def server_process(impl: str, story: Story, port: int = 0, hint: str | None = None):
    server = ServerProcess(impl, port)
    try:
        story.step(f"ran {impl}.ex05_closing.main(['{port}']) in a child process (as `python -m {impl}.ex05_closing {port}` does)")
        if not server.read_until(b"listening on"):
            server.read_until(b"\x00", 1)  # whatever else it printed before it ended
            wanted = f"listening on 127.0.0.1:{port}" if port else "listening on 127.0.0.1:PORT"
            story.fail(f"bind() and listen() to succeed, and it to print '{wanted}'", server.said()[-1500:], hint)
        time.sleep(0.2)
        if server.proc.poll() is not None:
            server.read_until(b"\x00", 1)  # collect what it printed before it died
            story.fail("the server to keep running, waiting in accept()",
                       f"it exited with status {server.proc.returncode}; it printed:\n{server.said()[-1500:]}")
        yield server
    finally:
        server.stop()


# TCP states as Linux numbers them (include/net/tcp_states.h), in /proc/net/tcp and TCP_INFO
TCP_ESTABLISHED, TCP_TIME_WAIT, TCP_CLOSE, TCP_LISTEN = 1, 6, 7, 10


def kernel_sockets(port: int) -> list[tuple[int, int]] | None:
    """(state, receive queue) of each TCP socket whose local port is PORT, from Linux's /proc/net/tcp.

    For a listening socket the receive queue is its accept queue: the
    connections the kernel finished that accept() has not taken yet.
    None where /proc/net/tcp cannot be read (not Linux).
    """
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    found = []
    for row in rows:
        fields = row.split()
        if int(fields[1].split(":")[1], 16) == port:
            found.append((int(fields[3], 16), int(fields[4].split(":")[1], 16)))
    return found


def time_wait_count(port: int) -> int | None:
    """Connections in TIME_WAIT on local PORT, or None where it cannot be known."""
    sockets = kernel_sockets(port)
    return None if sockets is None else sum(1 for state, _ in sockets if state == TCP_TIME_WAIT)


def wait_until_served(port: int, clients: int, timeout: float = PATIENCE) -> None:
    """Wait until the server on PORT has accepted CLIENTS connections and read everything they sent.

    The kernel's view: an empty accept queue on the listening socket, and
    CLIENTS established connections whose receive queues are empty.  Where
    it cannot be seen (not Linux), wait a moment instead.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sockets = kernel_sockets(port)
        if sockets is None:
            time.sleep(0.5)
            return
        waiting = sum(queue for state, queue in sockets if state == TCP_LISTEN)
        connections = [queue for state, queue in sockets if state == TCP_ESTABLISHED]
        if not waiting and len(connections) >= clients and not any(connections):
            return
        time.sleep(0.02)


def _wait_for_state(sock: socket.socket, state: int, timeout: float = 3.0) -> None:
    """Wait until the kernel's TCP state of SOCK is STATE (TCP_INFO's first byte; a moment where unknown)."""
    if not hasattr(socket, "TCP_INFO"):
        time.sleep(0.2)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != state:
        time.sleep(0.01)


def _interrupt_and_check(story: Story, server: ServerProcess, peers: list[Peer]) -> None:
    wait_until_served(server.port(), len(peers))  # accepted, and what they sent read
    server.proc.send_signal(signal.SIGINT)
    story.step("sent SIGINT to the server (what Ctrl-C does)")
    for peer in peers:
        line = peer.expect(r"^\d\d:\d\d:\d\d --- shutdown: ", timeout=PATIENCE)
        story.check(line is not None, f"{peer.label} to receive 'HH:MM:SS --- shutdown: ...'",
                    f"{peer.transcript()}; the server printed: {server.said()}")
        how = peer.wait_closed(PATIENCE)
        story.check(how == "fin", f"{peer.label}'s connection then closed with a FIN (recv() returns b'')",
                    how, "read what clients send (unread data turns close() into an RST)")
    try:
        code = server.proc.wait(PATIENCE)
    except subprocess.TimeoutExpired:
        code = None
    server.read_until(b"stopped", 1)
    story.check(code == 0, "the server to exit, with status 0", f"exit status {code}; it printed: {server.said()}")


def _chat_then_interrupt(story: Story, server: ServerProcess) -> int:
    port = server.port()
    peers = []
    try:
        for name in ("alice", "bob"):
            peers.append(connect(story, ("127.0.0.1", port), name))
            peers[-1].send("some text the server must read")
        story.step("connected alice and bob; each sent its name and a line")
        _interrupt_and_check(story, server, peers)
    finally:
        for peer in peers:
            peer.close()
    return port


def test_ctrl_c_tells_the_clients_and_closes_with_fin(impl):
    load(impl, "ex05_closing")
    story = Story("ex05_closing: Ctrl-C on the server")
    with server_process(impl, story) as server:
        _chat_then_interrupt(story, server)


def test_restart_on_the_same_port_at_once(impl):
    load(impl, "ex05_closing")
    story = Story("ex05_closing: restart on the same port")
    with server_process(impl, story) as server:
        port = _chat_then_interrupt(story, server)
    story.step("alice and bob closed their side after the server's FIN")
    waiting = time_wait_count(port)
    if waiting is not None:
        deadline = time.monotonic() + 2
        while waiting < 2 and time.monotonic() < deadline:  # the clients' FINs are being processed
            time.sleep(0.05)
            waiting = time_wait_count(port)
        story.step(f"read /proc/net/tcp: {waiting} connection(s) in TIME_WAIT on port {port} "
                   "(the server closed first, so its side keeps TIME_WAIT)")
    story.step("started the server again on the same port at once")
    hint = (f"'Address already in use': the connections the first server closed are in TIME_WAIT on port {port}, "
            "and they still use it. A socket option, set before bind(), lets a new listening socket bind "
            "the port anyway (see What you learn in the exercise)")
    with server_process(impl, story, port, hint=hint) as again:
        story.check(again.port() == port, f"it to listen on port {port} again, despite TIME_WAIT", again.said())


@pytest.mark.privileged
def test_ctrl_c_on_the_wire(impl):
    load(impl, "ex05_closing")
    from tests.graded.wire import LoopbackWatch

    story = Story("ex05_closing: Ctrl-C, on the wire")
    with server_process(impl, story) as server:
        port = server.port()
        peer = None
        try:
            with LoopbackWatch(port) as watch:
                story.step(f"captured the segments on lo to/from port {port}")
                peer = connect(story, ("127.0.0.1", port), "alice")
                _interrupt_and_check(story, server, [peer])
                peer.close()
            story.step("captured:\n" + watch.describe())
            from_server = [s for s in watch.segments if s.sport == port]
            story.check(any(s.has("F") for s in from_server), "a FIN from the server's port", "no FIN")
            story.check(not any(s.has("R") for s in watch.segments), "no RST in either direction",
                        [str(s) for s in watch.segments if s.has("R")])
        finally:
            if peer:
                peer.close()

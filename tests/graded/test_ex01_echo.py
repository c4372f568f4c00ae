"""Exercise 1: TCP echo server and client (see exercises/ex01_echo.py)."""

from __future__ import annotations

import socket
import time

import pytest

from tests.graded.teach import Background, Story, close_quietly, load, recv_all
from tests.helpers.chat import free_port

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]


def test_open_listener_accepts_connections(impl):
    ex = load(impl, "ex01_echo")
    story = Story("ex01_echo.open_listener")
    listener = story.call('open_listener("127.0.0.1", 0)', ex.open_listener, "127.0.0.1", 0)
    client = None
    try:
        story.check(isinstance(listener, socket.socket), "a socket.socket", listener)
        story.check(
            listener.type == socket.SOCK_STREAM and listener.family == socket.AF_INET,
            "an IPv4 TCP socket (AF_INET, SOCK_STREAM)",
            f"family={listener.family!r}, type={listener.type!r}",
        )
        port = listener.getsockname()[1]
        story.step(f"read its address with getsockname(): {listener.getsockname()}")
        story.check(port != 0, "a real port chosen by the kernel (bind to port 0)", "port 0: the socket was never bound")
        story.step(f"connected a client to 127.0.0.1:{port} WITHOUT calling accept()")
        try:
            client = socket.create_connection(("127.0.0.1", port), timeout=3)
        except OSError as exc:
            story.fail(
                "connect() to succeed: once listen() was called, the kernel completes the handshake by itself",
                f"{type(exc).__name__}: {exc}",
                "did you call listen()?",
            )
    finally:
        close_quietly(client, listener if isinstance(listener, socket.socket) else None)


def test_open_listener_uses_the_port_asked_for(impl):
    ex = load(impl, "ex01_echo")
    story = Story("ex01_echo.open_listener")
    port = free_port()
    listener = story.call(f'open_listener("127.0.0.1", {port})', ex.open_listener, "127.0.0.1", port)
    try:
        story.check(
            listener.getsockname() == ("127.0.0.1", port),
            f"the socket bound to ('127.0.0.1', {port})",
            listener.getsockname(),
        )
    finally:
        close_quietly(listener)


def test_echo_once_echoes_and_reports_the_client(impl):
    ex = load(impl, "ex01_echo")
    story = Story("ex01_echo.echo_once")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    story.step(f"made a listening socket on 127.0.0.1:{port} and ran echo_once(listener) in a thread")
    job = Background(ex.echo_once, listener)
    client = None
    try:
        client = socket.create_connection(("127.0.0.1", port), timeout=3)
        mine = client.getsockname()
        story.step(f"connected a client from its ephemeral port {mine[1]}")
        client.sendall(b"hello\n")
        time.sleep(0.2)  # so that the server's first recv() surely returns only the first part
        client.sendall(b"second line\n")
        story.step("sent b'hello\\n', waited 0.2 s, sent b'second line\\n'")
        client.shutdown(socket.SHUT_WR)
        story.step("shut down the client's sending side (its FIN) and read until the server closed")
        data, how = recv_all(client, timeout=4)
        story.check(
            data == b"hello\nsecond line\n",
            "the same 18 bytes back: b'hello\\nsecond line\\n'",
            f"{data!r} (and echo_once: {job.outcome()})",
            "recv() in a loop and sendall() every chunk until recv() returns b''",
        )
        story.check(how == "fin", "the server to close the connection after the client's FIN (recv() returns b'')",
                    f"the connection ended by {how} (echo_once: {job.outcome()})")
        story.check(job.wait(3), "echo_once to return after the client closed", job.outcome())
        story.check(job.error is None, "echo_once to return normally", job.outcome())
        story.check(
            tuple(job.result) == mine,
            f"the client's address as accept() gives it: {mine} (the port is the client's ephemeral port)",
            repr(job.result),
        )
    finally:
        close_quietly(client, listener)


def _test_echo_server(listener: socket.socket, patience: float = 4.0) -> str:
    """The test's own echo server: echo one client, return how it ended."""
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(patience)
        while True:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                return "timeout: the client never closed its side"
            except OSError as exc:
                return f"{type(exc).__name__}: {exc}"
            if not data:
                return "fin"
            try:
                conn.sendall(data)
            except socket.timeout:
                return f"timeout: the echo server's sendall waited {patience:.0f} s, because the client did not read"
            except OSError as exc:
                return f"{type(exc).__name__}: {exc}"


def test_echo_client_gets_everything_back(impl):
    ex = load(impl, "ex01_echo")
    story = Story("ex01_echo.echo_client")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    story.step(f"started the test's own echo server on 127.0.0.1:{port}")
    server = Background(_test_echo_server, listener)
    payload = bytes(range(256)) * 256  # 64 KiB: more than one recv() can return
    try:
        got = story.call(f'echo_client("127.0.0.1", {port}, <64 KiB of data>)', ex.echo_client, "127.0.0.1", port, payload)
        story.check(server.wait(4), "the client to send its FIN after the data (shutdown(SHUT_WR))",
                    "the test server was still waiting for more data")
        story.check(
            server.result == "fin", "the test server's recv() to return b'' (the client's FIN)", str(server.result)
        )
        story.check(
            got == payload,
            f"all {len(payload)} bytes back, in order",
            f"{len(got) if isinstance(got, bytes) else got!r} bytes",
            "one recv() returns only part of the data: loop until it returns b''",
        )
    finally:
        close_quietly(listener)


SMALL_BUFFER = 64 * 1024  # the test server's SO_RCVBUF and SO_SNDBUF, so that 8 MiB surely exceed all buffers
BIG = 8 * 2**20


def test_echo_client_sends_and_receives_at_once(impl):
    ex = load(impl, "ex01_echo")
    story = Story("ex01_echo.echo_client with megabytes")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # set on the listener, inherited by the accepted socket; a set size also stops the kernel growing it
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    story.step(f"started the test's own echo server on 127.0.0.1:{port}, with 64 KiB send and receive buffers")
    server = Background(_test_echo_server, listener, 8.0)  # more patient than echo_client's 5 s timeout
    payload = bytes(range(251)) * (BIG // 251 + 1)
    payload = payload[:BIG]
    try:
        story.step(f'called echo_client("127.0.0.1", {port}, <8 MiB of data>): more than all the buffers on '
                   "the way (your send and receive buffers, the server's) can hold")
        try:
            got = ex.echo_client("127.0.0.1", port, payload)
        except Exception as exc:
            error = exc
        else:
            error = None
        if error is not None:
            story.fail(
                "all 8 MiB back: the echo comes back while you are still sending, so your client must "
                "read while it sends",
                f"it raised {type(error).__name__}: {error}; the test server ended with: "
                f"{server.result if server.wait(9 if isinstance(error, socket.timeout) else 1) else 'still running'}",
                "a deadlock: your receive buffer filled, the server's sendall waited, it stopped reading, and "
                "your sendall waited for it. Send in one thread, receive in the other",
            )
        story.check(
            got == payload,
            f"all {len(payload)} bytes back, in order",
            f"{len(got) if isinstance(got, bytes) else got!r} bytes",
        )
        story.check(server.wait(4) and server.result == "fin",
                    "the test server to see your FIN after the data (shutdown(SHUT_WR) once everything is sent)",
                    str(server.result))
    finally:
        close_quietly(listener)


@pytest.mark.privileged
def test_echo_handshake_and_close_on_the_wire(impl):
    ex = load(impl, "ex01_echo")
    from tests.graded.wire import LoopbackWatch

    story = Story("ex01_echo on the wire")
    listener = story.call('open_listener("127.0.0.1", 0)', ex.open_listener, "127.0.0.1", 0)
    port = listener.getsockname()[1]
    try:
        with LoopbackWatch(port) as watch:
            story.step(f"captured the TCP segments on lo to/from port {port}")
            server = Background(ex.echo_once, listener)
            got = story.call(f'echo_client("127.0.0.1", {port}, b"ping\\n") against echo_once',
                             ex.echo_client, "127.0.0.1", port, b"ping\n")
            server.wait(3)
        segs = watch.segments
        story.step("captured:\n" + watch.describe())
        story.check(got == b"ping\n", "b'ping\\n' echoed", got)
        syn = [s for s in segs if s.flags == "S"]
        synack = [s for s in segs if s.has("S") and s.has("A")]
        story.check(len(syn) == 1 and syn[0].dport == port, "exactly one SYN, from the client to the server port", f"{len(syn)} SYN")
        story.check(len(synack) == 1 and synack[0].sport == port, "exactly one SYN-ACK, from the server", f"{len(synack)} SYN-ACK")
        third = segs[segs.index(synack[0]) + 1] if synack[0] in segs[:-1] else None
        story.check(
            third is not None and third.has("A") and not third.has("S") and third.dport == port
            and third.ack == synack[0].seq + 1,
            "the client's ACK of the SYN-ACK (ack = server ISN + 1) right after it: the three-way handshake",
            str(third),
        )
        fins_from_client = [s for s in segs if s.has("F") and s.dport == port]
        fins_from_server = [s for s in segs if s.has("F") and s.sport == port]
        resets = [s for s in segs if s.has("R")]
        story.check(len(fins_from_client) == 1, "one FIN from the client (shutdown(SHUT_WR))", f"{len(fins_from_client)}")
        story.check(len(fins_from_server) == 1, "one FIN from the server (close())", f"{len(fins_from_server)}")
        story.check(not resets, "no RST: both sides closed cleanly", "\n".join(map(str, resets)))
    finally:
        close_quietly(listener)

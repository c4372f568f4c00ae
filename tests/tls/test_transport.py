"""TlsTransport over real sockets on 127.0.0.1: the chat's threading design,
verification failures in words, and peers that are idle, plain or broken."""

from __future__ import annotations

import socket
import ssl
import struct
import threading

import pytest

from lab.tls import (
    PLAIN_TEXT_ON_TLS_PORT,
    TlsError,
    TlsHandshakeError,
    TlsTransport,
    client_context,
    looks_like_tls_client_hello,
    server_context,
)
from tests.tls.tlsnet import LineReader, Outbox, connect_pair, in_thread

LINES = 2000


def _server_ctx(lab):
    return server_context(lab.server_cert, lab.server_key)


def _client_ctx(lab, max_version=None):
    ctx = client_context(lab.ca_cert)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"])
def test_lines_both_ways_while_other_threads_write(lab, listener, closer, version):
    """Server end: a reader thread, and two producer threads delivering
    through an Outbox (encode + MSG_DONTWAIT under a lock, backlog drained by
    a writer thread).  Client end: a reader thread and a writer thread.
    Every line arrives, once, in its sender's order.

    Small socket buffers and a client that starts reading only once the
    producers are done force the backlog path (partial sends, a writer
    thread finishing them)."""
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab, version), closer=closer)
    assert isinstance(server, TlsTransport), server
    assert isinstance(client, TlsTransport), client
    server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    producers_done = threading.Barrier(3, timeout=30)
    assert client.version() == ("TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
    outbox = Outbox(server)
    try:
        # Client -> server: one writer thread; server reader checks order.
        def client_writer():
            for i in range(LINES):
                client.sendall(b"c %d %s\n" % (i, b"x" * (i % 97)))

        def server_reader():
            return [line for line in LineReader(server).lines(LINES)]

        # Server -> client: two producers interleave through the outbox.
        def producer(tag: bytes):
            for i in range(LINES // 2):
                outbox.deliver(b"%s %d %s\n" % (tag, i, b"y" * (i % 89)))
            producers_done.wait()

        def client_reader():
            producers_done.wait()
            return [line for line in LineReader(client).lines(LINES)]

        threads = [in_thread(f) for f in (server_reader, client_reader, client_writer)]
        threads += [in_thread(lambda t=tag: producer(t)) for tag in (b"A", b"B")]
        for thread, _ in threads:
            thread.join(60)
        for thread, result in threads:
            assert not thread.is_alive(), "a reader or writer thread is stuck"
            assert result.error is None, repr(result.error)
        assert not outbox.overflow
        assert outbox.queued > 0, "the backlog path was never exercised"

        got_by_server = threads[0][1].value
        assert [int(line.split()[1]) for line in got_by_server] == list(range(LINES))
        assert all(line.startswith(b"c ") for line in got_by_server)

        got_by_client = threads[1][1].value
        assert len(got_by_client) == LINES
        for tag in (b"A", b"B"):
            seq = [int(line.split()[1]) for line in got_by_client if line.startswith(tag + b" ")]
            assert seq == list(range(LINES // 2)), f"producer {tag!r}: lines lost, repeated or reordered"
    finally:
        outbox.close()


def test_unknown_ca_is_explained_on_both_sides(lab, other_lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(other_lab), closer=closer)
    assert isinstance(client, TlsHandshakeError)
    assert client.kind == "verify"
    assert "not signed by a CA you trust" in str(client)
    assert "--cafile" in str(client) and "--insecure" in str(client)
    assert "\n" not in str(client)
    # The client told the server why (a TLS alert), and the server says so.
    assert isinstance(server, TlsHandshakeError)
    assert server.kind == "rejected", str(server)
    assert "rejected this server's certificate" in str(server)


def test_hostname_mismatch_is_explained(lab, listener, closer):
    server, client = connect_pair(
        listener, _server_ctx(lab), _client_ctx(lab), hostname="not-the-server.example", closer=closer
    )
    assert isinstance(client, TlsHandshakeError)
    assert client.kind == "verify"
    assert "not made out to the name you connected to (not-the-server.example)" in str(client)
    assert "chatlab tls init --force --host not-the-server.example" in str(client)


def test_expired_certificate_is_explained(expired_lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(expired_lab), _client_ctx(expired_lab), closer=closer)
    assert isinstance(client, TlsHandshakeError)
    assert client.kind == "verify"
    assert "has expired" in str(client)


def test_describe_says_whether_the_server_was_verified(lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab), closer=closer)
    assert client.describe().startswith("TLSv1.3, TLS_")
    assert client.describe().endswith("server certificate verified")
    assert server.describe().startswith("TLSv1.3, ")


def test_insecure_client_skips_verification(other_lab, listener, closer):
    """--insecure: any certificate is accepted (and the lines still flow)."""
    server, client = connect_pair(
        listener, _server_ctx(other_lab), client_context(verify=False), hostname="anything", closer=closer
    )
    assert isinstance(client, TlsTransport), client
    assert "NOT verified" in client.describe()
    client.sendall(b"hello\n")
    assert server.recv(100) == b"hello\n"


def test_idle_client_cannot_hang_the_server_handshake(lab, listener, closer):
    idle = socket.create_connection(listener.getsockname())
    closer(idle)
    conn, _ = listener.accept()
    closer(conn)
    t = TlsTransport(conn, _server_ctx(lab), server_side=True)
    with pytest.raises(TlsHandshakeError) as info:
        t.handshake(timeout=0.5)
    assert info.value.kind == "timeout"
    assert "timed out" in str(info.value)


def test_trickling_client_cannot_hang_the_server_handshake(lab, listener, closer):
    """A peer that sends a TLS-looking header and then dribbles: the overall
    deadline still ends the handshake."""
    peer = socket.create_connection(listener.getsockname())
    closer(peer)
    conn, _ = listener.accept()
    closer(conn)
    t = TlsTransport(conn, _server_ctx(lab), server_side=True)
    stop = threading.Event()

    def trickle():
        peer.sendall(b"\x16\x03\x01\x01\x00")  # record header: 256 bytes follow...
        for _ in range(40):  # ...one byte every 50 ms, never all of them
            if stop.wait(0.05):
                return
            try:
                peer.sendall(b"\x00")
            except OSError:
                return

    thread, _ = in_thread(trickle)
    try:
        with pytest.raises(TlsHandshakeError) as info:
            t.handshake(timeout=0.5)
        assert info.value.kind in ("timeout", "protocol")
    finally:
        stop.set()
        thread.join(5)


def test_idle_server_cannot_hang_the_client_handshake(lab, listener, closer):
    client_sock = socket.create_connection(listener.getsockname())
    closer(client_sock)
    conn, _ = listener.accept()  # accepted, but nobody answers the ClientHello
    closer(conn)
    t = TlsTransport(client_sock, _client_ctx(lab), server_side=False, server_hostname="localhost")
    with pytest.raises(TlsHandshakeError) as info:
        t.handshake(timeout=0.5)
    assert info.value.kind == "timeout"


@pytest.mark.parametrize(
    "plain",
    [b"alice\r\n", b"hi", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\xff\xfd\x18"],
    ids=["name", "short", "http", "telnet-iac"],
)
def test_plain_text_on_the_tls_port(lab, listener, closer, plain):
    peer = socket.create_connection(listener.getsockname())
    closer(peer)
    conn, _ = listener.accept()
    closer(conn)
    peer.sendall(plain)
    t = TlsTransport(conn, _server_ctx(lab), server_side=True)
    with pytest.raises(TlsHandshakeError) as info:
        t.handshake(timeout=5)
    assert info.value.kind == "plaintext"
    assert str(info.value) == PLAIN_TEXT_ON_TLS_PORT
    assert "not a TLS client" in str(info.value)


def test_garbage_that_looks_like_tls_is_refused(lab, listener, closer):
    peer = socket.create_connection(listener.getsockname())
    closer(peer)
    conn, _ = listener.accept()
    closer(conn)
    peer.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
    t = TlsTransport(conn, _server_ctx(lab), server_side=True)
    with pytest.raises(TlsHandshakeError) as info:
        t.handshake(timeout=5)
    assert info.value.kind == "protocol"
    assert "\n" not in str(info.value)


def test_peer_that_closes_during_handshake(lab, listener, closer):
    peer = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    closer(conn)
    peer.close()  # FIN before any byte
    t = TlsTransport(conn, _server_ctx(lab), server_side=True)
    with pytest.raises(TlsHandshakeError) as info:
        t.handshake(timeout=5)
    assert info.value.kind == "closed"


def test_tls_client_on_a_plain_server(lab, listener, closer):
    """The plain server spots the ClientHello with the detector, answers
    one line and closes; the TLS client says what happened."""

    def plain_server():
        conn, _ = listener.accept()
        with conn:
            first = conn.recv(4096)
            detected = looks_like_tls_client_hello(first)
            conn.sendall(b"12:00:00 !!! tls-not-enabled: this port speaks plain text, not TLS\r\n")
            return detected

    thread, result = in_thread(plain_server)
    sock = socket.create_connection(listener.getsockname())
    closer(sock)
    t = TlsTransport(sock, _client_ctx(lab), server_side=False, server_hostname="localhost")
    with pytest.raises(TlsHandshakeError) as info:
        t.handshake(timeout=5)
    thread.join(5)
    assert result.value is True, "the detector did not recognise a real ClientHello"
    assert info.value.kind == "plaintext"
    assert "answered in plain text" in str(info.value)
    assert "tls-not-enabled" in str(info.value)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"])
def test_detector_on_a_real_client_hello(lab, listener, closer, version):
    sock = socket.create_connection(listener.getsockname())
    closer(sock)
    conn, _ = listener.accept()
    closer(conn)
    t = TlsTransport(sock, _client_ctx(lab, version), server_side=False, server_hostname="localhost")
    thread, _ = in_thread(lambda: t.handshake(timeout=1))
    conn.settimeout(5)
    first = conn.recv(4096)
    assert looks_like_tls_client_hello(first)
    conn.close()
    thread.join(5)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x16", b"\x16\x03", b"alice\r\n", b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x00\x05\x02", b"\x15\x03\x03\x00\x02"],
)
def test_detector_says_no(data):
    assert not looks_like_tls_client_hello(data)


def test_close_notify_then_eof(lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab), closer=closer)
    client.sendall(b"last words\n")
    client.sock.sendall(client.close_notify())
    assert client.closed
    assert client.encode(b"too late") == b""  # dropped, never raises
    assert client.close_notify() == b""  # only once
    assert server.recv(100) == b"last words\n"
    assert server.recv(100) == b""
    assert server.peer_closed == "close_notify"


def test_fin_without_close_notify_is_eof(lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab), closer=closer)
    client.sock.shutdown(socket.SHUT_WR)  # a TCP FIN, no TLS goodbye
    assert server.recv(100) == b""
    assert server.peer_closed == "eof"


def test_rst_is_connection_reset(lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab), closer=closer)
    # SO_LINGER with a zero timeout: close() sends an RST instead of a FIN.
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.sock.close()
    with pytest.raises(ConnectionResetError):
        server.recv(100)


def test_garbage_after_the_handshake(lab, listener, closer):
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab), closer=closer)
    calls = []
    server.on_wire_pending = lambda: calls.append(1)
    client.sock.sendall(b"\x17\x03\x03\x00\x20" + b"\xaa" * 32)  # an application record that fails to decrypt
    with pytest.raises(TlsError):
        server.recv(100)
    # OpenSSL wrote an alert (bad_record_mac) for the peer: the owner was told,
    # and the bytes are waiting (in TLS 1.3 an alert is itself encrypted, so
    # its record looks like application data, type 0x17).
    assert calls, "on_wire_pending was not called"
    wire = server.pending_wire()
    assert wire[:1] in (b"\x15", b"\x17") and len(wire) > 5
    assert server.pending_wire() == b""
    # Other threads delivering to this client must not be hurt.
    assert server.encode(b"to a broken session\n") == b""
    assert server.closed


def test_records_split_across_tcp_segments(lab, listener, closer):
    """A record that arrives a few bytes at a time still decrypts."""
    server, client = connect_pair(listener, _server_ctx(lab), _client_ctx(lab), closer=closer)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire = client.encode(b"split me\n")
    for i in range(0, len(wire), 7):
        client.sock.sendall(wire[i : i + 7])
    got = b""
    for _ in range(50):
        got += server.recv(100)
        if got.endswith(b"\n"):
            break
    assert got == b"split me\n"

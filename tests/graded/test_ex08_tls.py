"""Exercise 8: TLS (see exercises/ex08_tls.py)."""

from __future__ import annotations

import selectors
import socket
import ssl
import time

import pytest

from tests.graded.certs import make_pki
from tests.graded.teach import Background, Story, close_quietly, load

pytestmark = [pytest.mark.graded, pytest.mark.timeout(20)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Two unrelated CAs, each with a server certificate for localhost / 127.0.0.1."""
    base = tmp_path_factory.mktemp("pki")
    return make_pki(base / "lab", "lab"), make_pki(base / "other", "other")


def _test_server_context(pki_) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki_.cert, pki_.key)
    return context


def _tls_echo_server(listener: socket.socket, context: ssl.SSLContext) -> str:
    """The test's own TLS echo server (one client); returns what happened."""
    conn, _ = listener.accept()
    conn.settimeout(4)
    try:
        with context.wrap_socket(conn, server_side=True) as tls:
            while True:
                data = tls.recv(4096)
                if not data:
                    return "echoed"
                tls.sendall(data)
    except (ssl.SSLError, OSError) as exc:
        return f"handshake failed: {exc}"


def _listen() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0))


def test_client_context_verifies(impl, pki):
    ex = load(impl, "ex08_tls")
    lab, _ = pki
    story = Story("ex08_tls.client_context")
    ctx = story.call("client_context(<lab ca.pem>)", ex.client_context, lab.ca)
    story.check(isinstance(ctx, ssl.SSLContext), "an ssl.SSLContext", ctx)
    story.check(ctx.verify_mode == ssl.CERT_REQUIRED, "verify_mode == ssl.CERT_REQUIRED (check the certificate)", ctx.verify_mode)
    story.check(ctx.check_hostname, "check_hostname == True (check the name in the certificate)", ctx.check_hostname)
    story.check(ctx.minimum_version >= ssl.TLSVersion.TLSv1_2, "minimum_version TLS 1.2 or newer", ctx.minimum_version)


def test_server_context_serves_tls(impl, pki):
    ex = load(impl, "ex08_tls")
    lab, _ = pki
    story = Story("ex08_tls.server_context")
    ctx = story.call("server_context(<server.pem>, <server-key.pem>)", ex.server_context, lab.cert, lab.key)
    story.check(isinstance(ctx, ssl.SSLContext), "an ssl.SSLContext", ctx)
    story.check(ctx.minimum_version >= ssl.TLSVersion.TLSv1_2, "minimum_version TLS 1.2 or newer", ctx.minimum_version)
    listener = _listen()
    server = Background(_tls_echo_server, listener, ctx)
    story.step("ran the test's TLS echo server with that context; a test client trusting the lab CA connected")
    try:
        client_ctx = ssl.create_default_context(cafile=lab.ca)
        with socket.create_connection(listener.getsockname(), timeout=3) as raw:
            try:
                with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"hello over TLS")
                    got = tls.recv(100)
            except (ssl.SSLError, OSError) as exc:
                story.fail("a TLS handshake the client can verify", f"{type(exc).__name__}: {exc}",
                           "load_cert_chain(certfile, keyfile) on an SSLContext(PROTOCOL_TLS_SERVER)")
        story.check(got == b"hello over TLS", "b'hello over TLS' echoed", got)
    finally:
        close_quietly(listener)


def _client_against(ex, story: Story, server_pki, trusted_ca: str, hostname: str):
    listener = _listen()
    port = listener.getsockname()[1]
    server = Background(_tls_echo_server, listener, _test_server_context(server_pki))
    story.step(f"ran the test's TLS echo server on 127.0.0.1:{port}")
    try:
        ctx = story.call("client_context(<ca.pem>)", ex.client_context, trusted_ca)
        story.step(f"called tls_echo_client('127.0.0.1', {port}, ctx, {hostname!r}, b'secret')")
        try:
            result = ex.tls_echo_client("127.0.0.1", port, ctx, hostname, b"secret", 3.0)
        except Exception as exc:  # judged by the caller
            result = exc
        server.wait(3)
        return result
    finally:
        close_quietly(listener)


def test_echo_client_talks_tls(impl, pki):
    ex = load(impl, "ex08_tls")
    lab, _ = pki
    story = Story("ex08_tls.tls_echo_client")
    result = _client_against(ex, story, lab, lab.ca, "localhost")
    story.check(result == b"secret", "b'secret' echoed over TLS", result)


def test_client_refuses_a_certificate_from_another_ca(impl, pki):
    ex = load(impl, "ex08_tls")
    lab, other = pki
    story = Story("ex08_tls: verifying who signed the certificate")
    story.step("the server presents a certificate signed by ANOTHER CA than the one the client trusts")
    result = _client_against(ex, story, other, lab.ca, "localhost")
    story.check(isinstance(result, ssl.SSLCertVerificationError),
                "ssl.SSLCertVerificationError (certificate verify failed): maybe a man in the middle",
                f"{type(result).__name__}: {result}" if isinstance(result, Exception) else f"it returned {result!r}",
                "keep verification on: CERT_REQUIRED, and never catch this error to carry on")


def test_client_refuses_the_wrong_host_name(impl, pki):
    ex = load(impl, "ex08_tls")
    lab, _ = pki
    story = Story("ex08_tls: verifying the name")
    story.step("the certificate is for 'localhost'; the client asks for 'chat.example.org'")
    result = _client_against(ex, story, lab, lab.ca, "chat.example.org")
    story.check(isinstance(result, ssl.SSLCertVerificationError),
                "ssl.SSLCertVerificationError (hostname mismatch)",
                f"{type(result).__name__}: {result}" if isinstance(result, Exception) else f"it returned {result!r}",
                "pass server_hostname= to wrap_socket, with check_hostname on")


def _relay(listener: socket.socket, target: tuple[str, int], record: dict[str, bytes]) -> None:
    """Forward one connection to TARGET, recording the bytes of each direction."""
    down, _ = listener.accept()
    up = socket.create_connection(target, timeout=3)
    ends = {down: (up, "client->server"), up: (down, "server->client")}
    selector = selectors.DefaultSelector()
    for sock in ends:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + 8
    try:
        while ends and time.monotonic() < deadline:
            for key, _ in selector.select(0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                other, direction = ends[sock]
                if not data:
                    selector.unregister(sock)
                    del ends[sock]
                    try:
                        other.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                record[direction] = record.get(direction, b"") + data
                other.sendall(data)
    finally:
        selector.close()
        close_quietly(down, up)


def test_tls_echo_end_to_end_is_encrypted_on_the_wire(impl, pki):
    ex = load(impl, "ex08_tls")
    lab, _ = pki
    story = Story("ex08_tls: what the wire carries")
    server_ctx = story.call("server_context(...)", ex.server_context, lab.cert, lab.key)
    client_ctx = story.call("client_context(...)", ex.client_context, lab.ca)
    listener, relay_listener = _listen(), _listen()
    record: dict[str, bytes] = {}
    try:
        server = Background(ex.tls_echo_once, listener, server_ctx)
        relay = Background(_relay, relay_listener, listener.getsockname(), record)
        story.step("ran tls_echo_once(listener, ctx) and, in front of it, a test relay that records every byte")
        message = b"the answer to exercise 3 is: a thread per client"
        got = story.call("tls_echo_client(<relay>, ..., 'localhost', <a secret message>)", ex.tls_echo_client,
                         "127.0.0.1", relay_listener.getsockname()[1], client_ctx, "localhost", message, 3.0)
        story.check(got == message, "the message echoed back", got)
        story.check(server.wait(3), "tls_echo_once to return after the client closed", server.outcome())
        story.check(server.result in ("TLSv1.2", "TLSv1.3"), "tls_echo_once to return 'TLSv1.2' or 'TLSv1.3'", server.outcome())
        relay.wait(3)
        sent = record.get("client->server", b"")
        story.step(f"the relay saw {len(sent)} bytes client->server, {len(record.get('server->client', b''))} server->client")
        story.check(sent[:1] == b"\x16", "the first byte from the client to be 0x16: a TLS handshake record (ClientHello)", sent[:8])
        for direction, data in record.items():
            story.check(b"thread per client" not in data, f"no plaintext on the wire ({direction})",
                        "the message in clear text", "wrap the socket BEFORE sending anything")
    finally:
        close_quietly(listener, relay_listener)

"""Exercise 8: TLS -- wrapping the sockets and verifying the certificate.

What you learn
--------------
Everything so far travels in clear text: anyone on the path (or with
``chatlab sniff``) reads every message.  TLS runs on top of a TCP
connection: after TCP's handshake, a *TLS handshake* agrees on keys, and
from then on every byte is encrypted and protected against changes.

The server proves who it is with a *certificate*: its public key and name
("localhost", "chat.example.org"), signed by a certificate authority (CA).
The client must *verify* it: the signature chains to a CA the client
trusts (for this lab, the lab CA's ``ca.pem`` that ``chatlab tls init``
makes), and the name in the certificate matches the host the client wanted.
Without verification, encryption only proves you talk to *somebody* --
maybe the attacker in the middle.

In Python:

- an ``ssl.SSLContext`` holds the settings: for a server, its certificate
  and private key; for a client, the CAs it trusts and "check the name";
- ``context.wrap_socket(sock, ...)`` turns a connected TCP socket into an
  ``ssl.SSLSocket`` and runs the TLS handshake; then ``recv``/``sendall``
  work as before, on decrypted data.

A verification failure raises ``ssl.SSLCertVerificationError`` in the
client's ``wrap_socket`` (or its ``connect``): let it propagate, never
"fix" it by turning verification off.

What to write
-------------
``server_context``, ``client_context``, ``tls_echo_once`` and
``tls_echo_client``.  The tests make a throwaway CA; by hand, use
``chatlab tls init`` and its files.
"""

from __future__ import annotations

import socket
import ssl


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """An SSL context for a TLS *server* presenting CERTFILE with its KEYFILE.

    Use ``ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)``, refuse anything older
    than TLS 1.2 (``minimum_version = ssl.TLSVersion.TLSv1_2``) and load the
    certificate and key with ``load_cert_chain``.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write server_context() in exercises/ex08_tls.py")


def client_context(cafile: str) -> ssl.SSLContext:
    """An SSL context for a TLS *client* that trusts only the CA in CAFILE.

    It must verify the server's certificate (``verify_mode`` is
    ``ssl.CERT_REQUIRED``) and the host name (``check_hostname`` is True),
    and refuse anything older than TLS 1.2.  ``ssl.create_default_context``
    with ``cafile=`` does the first two for you.
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write client_context() in exercises/ex08_tls.py")


def tls_echo_once(listener: socket.socket, context: ssl.SSLContext) -> str:
    """Accept one TCP connection, run TLS on it, echo until the client closes.

    ``accept()``, then ``context.wrap_socket(conn, server_side=True)`` (the
    TLS handshake happens here), then echo what you receive (``recv`` /
    ``sendall``) until ``recv`` returns ``b""``.  Close the TLS socket and
    return the TLS version that was agreed (``tls_sock.version()``, e.g.
    ``"TLSv1.3"``).
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write tls_echo_once() in exercises/ex08_tls.py")


def tls_echo_client(host: str, port: int, context: ssl.SSLContext, server_hostname: str,
                    data: bytes, timeout: float = 5.0) -> bytes:
    """Send DATA to the TLS echo server and return the echo.

    ``socket.create_connection((host, port), timeout)``, then
    ``context.wrap_socket(sock, server_hostname=SERVER_HOSTNAME)`` -- the
    name the certificate must carry.  Send DATA, read until you have
    received ``len(DATA)`` bytes (or the server closes), close, return them.
    (Why not ``shutdown(SHUT_WR)`` as in exercise 1?  On a TLS socket it
    would tear down the TLS layer; the length tells us when we are done.)
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write tls_echo_client() in exercises/ex08_tls.py")

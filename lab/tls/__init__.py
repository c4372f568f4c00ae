"""TLS for chat-lab: a lab certificate authority, SSL contexts, and a
memory-BIO transport that fits the chat server's threads.

Modules, one job each:

- ``lab.tls.certs``     make and describe the lab CA and server certificate
                        (needs the ``cryptography`` package; imported only by
                        ``chatlab tls``)
- ``lab.tls.contexts``  ``server_context`` / ``client_context`` and the
                        one-line explanations of verification failures
- ``lab.tls.transport`` ``TlsTransport``: TLS over a plain socket through
                        ``ssl.SSLObject`` + ``ssl.MemoryBIO``
- ``lab.tls.detect``    sans-I/O: does this look like a TLS ClientHello?

This package imports only the standard library, so ``chatlab server --tls``
stays fast to start.  See docs/TLS.md for the design.
"""

from lab.tls.contexts import (
    TlsConfigError,
    client_context,
    default_dir,
    explain_verify_error,
    lab_paths,
    server_context,
)
from lab.tls.detect import PLAIN_TEXT_ON_TLS_PORT, TLS_ON_PLAIN_PORT, looks_like_tls_client_hello
from lab.tls.transport import TlsError, TlsHandshakeError, TlsTransport

__all__ = [
    "PLAIN_TEXT_ON_TLS_PORT",
    "TLS_ON_PLAIN_PORT",
    "TlsConfigError",
    "TlsError",
    "TlsHandshakeError",
    "TlsTransport",
    "client_context",
    "default_dir",
    "explain_verify_error",
    "lab_paths",
    "looks_like_tls_client_hello",
    "server_context",
]

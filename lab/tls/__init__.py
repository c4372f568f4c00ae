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
stays fast to start, and imports its modules lazily: ``lab.tls.detect`` is
sans-I/O, and the chat core (lab/chat/client_core.py) uses it without
loading ``ssl`` or ``socket``.  ``from lab.tls import TlsTransport`` loads
the module that defines it, on first use.  See docs/TLS.md for the design.
"""

from __future__ import annotations

import importlib

# name -> the module of this package that defines it (imported on first use: PEP 562)
_WHERE = {
    "TlsConfigError": "contexts",
    "client_context": "contexts",
    "default_dir": "contexts",
    "explain_verify_error": "contexts",
    "lab_paths": "contexts",
    "server_context": "contexts",
    "PLAIN_TEXT_ON_TLS_PORT": "detect",
    "TLS_ON_PLAIN_PORT": "detect",
    "looks_like_tls_client_hello": "detect",
    "TlsError": "transport",
    "TlsHandshakeError": "transport",
    "TlsTransport": "transport",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """``lab.tls.NAME``: the name from the module that defines it, imported now (it stays cached)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lab.tls' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lab.tls.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))

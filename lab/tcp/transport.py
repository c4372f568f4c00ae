"""The byte channel of one TCP connection, plain or TLS, behind one declared interface.

The server's reader thread and the client only ever call the three methods
of ``Transport``: ``recv`` (plaintext in), ``sendall`` (plaintext out,
blocking) and ``close_notify`` (the bytes that end the session in order).
``PlainTransport`` is the socket itself; ``lab.tls.TlsTransport`` adds TLS
on top of the same socket.  The server's fan-out does not send through the
transport: it sends on the socket with non-blocking calls, and for TLS it
encrypts with ``TlsTransport.encode`` first (lab/tcp/delivery.py).
"""

from __future__ import annotations

import socket
from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """What the chat needs from a connection's byte channel."""

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes of plaintext; ``b""`` when the peer has finished.

        Blocks like ``socket.recv``; raises ConnectionResetError on an RST.
        Called from one thread only (the connection's reader).
        """
        ...

    def sendall(self, data: bytes) -> None:
        """Send all of ``data`` (plaintext), blocking until the kernel has it."""
        ...

    def close_notify(self) -> bytes:
        """The wire bytes that end the session cleanly before the FIN (``b""`` when there are none)."""
        ...


class PlainTransport:
    """Plain TCP: the bytes are the plaintext; the FIN alone ends the session."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def recv(self, size: int) -> bytes:
        """``socket.recv``: b"" means the peer's FIN arrived."""
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        """``socket.sendall``."""
        self.sock.sendall(data)

    def close_notify(self) -> bytes:
        """Nothing: plain TCP has no closing message, ``shutdown``/``close`` send the FIN."""
        return b""

"""Small socket helpers shared by the server and the client."""

from __future__ import annotations

import socket
import struct


def set_recv_timeout(sock: socket.socket, seconds: float) -> None:
    """Bound ``recv()`` in the kernel (SO_RCVTIMEO); 0 means wait forever.

    ``sock.settimeout`` would also make Python wait for writability before
    every ``send``, which could block a thread that delivers to this socket.
    SO_RCVTIMEO bounds receiving only; when it expires ``recv`` raises
    ``BlockingIOError``.
    """
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, micro))
    except OSError:
        pass

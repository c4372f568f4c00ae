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


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``wanted`` (up to the hard limit); return it.

    Every connection is a file descriptor, and many systems start programs
    with a soft limit of 1024: a server for 1,000 clients needs more.  Only
    the soft limit can be raised without privileges, up to the hard one.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft

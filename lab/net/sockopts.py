"""Small socket helpers shared by the servers, the clients and the load generator."""

from __future__ import annotations

import socket
import struct


def family_for(host: str) -> socket.AddressFamily:
    """The address family of a socket that binds or connects to ``host``.

    An IPv6 address literal (it has a colon: ``"::"``, ``"::1"``,
    ``"fe80::1%eth0"``) needs an AF_INET6 socket; anything else (an IPv4
    address, or a name such as ``"localhost"``) gets AF_INET, which is what
    the kit's servers and clients have always used for names.

    >>> family_for("::1").name, family_for("127.0.0.1").name, family_for("localhost").name
    ('AF_INET6', 'AF_INET', 'AF_INET')
    """
    return socket.AF_INET6 if ":" in host else socket.AF_INET


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

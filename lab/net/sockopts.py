"""Small socket helpers shared by the servers, the clients and the load generator."""

from __future__ import annotations

import errno
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


def explain_bind_error(error: OSError, host: str, port: int) -> str:
    """One line for the person whose server could not bind ``host``:``port``: what happened, what to do.

    >>> explain_bind_error(OSError(errno.EADDRINUSE, "Address already in use"), "127.0.0.1", 5050)
    'port 5050 is already in use on 127.0.0.1:5050 (another server is running there?): stop it, or choose another port with --port'
    """
    from lab.chat.limits import DEFAULT_PORT
    from lab.net.addresses import host_port

    where = host_port(host, port)
    if error.errno == errno.EADDRINUSE:
        return (f"port {port} is already in use on {where} (another server is running there?): "
                "stop it, or choose another port with --port")
    if error.errno == errno.EACCES:
        return f"not allowed to bind {where}: ports below 1024 need root; use --port {DEFAULT_PORT}"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; use 0.0.0.0 (every interface) or 127.0.0.1 (this machine only)"
    return f"cannot listen on {where}: {error.strerror or error}"


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


def close_listener(listener: socket.socket) -> None:
    """Close a listening socket so that a thread blocked in its ``accept()`` wakes up.

    On Linux, ``close()`` alone does not wake it: the blocked call holds its
    own reference to the socket and waits on.  ``shutdown()`` of a listening
    socket ends the wait at once (``accept()`` fails with EINVAL), then
    ``close()`` frees the descriptor.  (The two servers stop this way.)
    """
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not listening any more, or never was
    listener.close()


def unread_bytes(sock: socket.socket) -> int:
    """Bytes that arrived on ``sock`` and wait unread in its receive queue (FIONREAD), without reading them.

    What `ss` shows as Recv-Q.  A socket closed while this is not 0 sends RST,
    not FIN (RFC 1122, 4.2.2.13).
    """
    import fcntl
    import termios

    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


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

"""Lesson 6 helpers: what a UDP socket does with a datagram that is too big, or sent to nobody.

Both experiments run on 127.0.0.1 and return what they saw; the notebook
turns it into claims.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from lab.notebook.settings import HOST


@dataclass(frozen=True)
class Truncation:
    """recvfrom(bufsize) on one datagram of ``sent`` bytes."""

    sent: int
    bufsize: int
    got: int              # bytes recvfrom() returned
    truncated_flag: bool  # recvmsg() said MSG_TRUNC: the rest of the datagram was discarded
    next_call: str        # what the following receive found


def truncate(size: int = 40, bufsize: int = 16, timeout: float = 2.0) -> Truncation:
    """Send one ``size``-byte datagram; receive it with a ``bufsize``-byte buffer, then look for the rest."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind((HOST, 0))
        receiver.settimeout(timeout)
        sender.sendto((b"abcdefghijklmnopqrstuvwxyz" * (size // 26 + 1))[:size], receiver.getsockname())
        data, _anc, flags, _addr = receiver.recvmsg(bufsize)
        receiver.setblocking(False)
        try:
            rest = receiver.recv(65536)
            next_call = f"{len(rest)} more bytes"
        except BlockingIOError:
            next_call = "nothing: the other bytes are gone"
        return Truncation(size, bufsize, len(data), bool(flags & socket.MSG_TRUNC), next_call)
    finally:
        receiver.close()
        sender.close()


@dataclass(frozen=True)
class PortUnreachable:
    """One datagram to a port where nothing listens, from an unconnected and from a connected socket."""

    port: int
    unconnected_error: str   # what the unconnected socket reports afterwards
    connected_error: str     # what the connected one reports


def unreachable(timeout: float = 2.0) -> PortUnreachable:
    """sendto() a closed port from an unconnected socket, then send() there from a connected one.

    The receiving kernel answers each datagram with ICMP "port unreachable".
    Linux hands that error only to a *connected* UDP socket (the next call
    raises ConnectionRefusedError), or to a socket that asked for its error
    queue with IP_RECVERR; an unconnected socket never hears of it.  The
    connected socket's datagram leaves second, so once its error arrived,
    the first one's ICMP had been handled too: no sleep needed.
    """
    from lab.notebook.sockets import free_port

    port = free_port()  # a TCP port free now; a UDP port on it is just as unlikely to be in use
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        plain.sendto(b"anyone there?\n", (HOST, port))
        connected.connect((HOST, port))
        connected.send(b"anyone there?\n")
        connected.settimeout(timeout)
        try:
            connected.recv(100)
            connected_error = "no error"
        except ConnectionRefusedError as exc:
            connected_error = f"recv() raised ConnectionRefusedError ({exc.strerror})"
        except (TimeoutError, socket.timeout):
            connected_error = f"no error within {timeout:g} s"
        code = plain.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        plain.setblocking(False)
        try:
            plain.recvfrom(100)
            unconnected_error = "a datagram arrived"
        except BlockingIOError:
            unconnected_error = ("no error: SO_ERROR is 0 and recvfrom() has nothing"
                                 if code == 0 else f"SO_ERROR {errno.errorcode.get(code, code)}")
        except ConnectionRefusedError:
            unconnected_error = "recvfrom() raised ConnectionRefusedError"
        return PortUnreachable(port, unconnected_error, connected_error)
    finally:
        plain.close()
        connected.close()


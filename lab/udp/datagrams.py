"""The UDP chat's datagram format (sans-I/O): encode and decode the join,
message, keepalive, cookie-challenge and server-line datagrams (as bytes and
as small frozen dataclasses), within the size limits they obey
(``MAX_DATAGRAM``, ``JOIN_PADDING``).  Pure functions, no sockets, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.chat import wire as p

MAX_DATAGRAM = 1200
"""Largest UDP payload we send or accept, in bytes.

IPv6 guarantees that every link carries packets of 1280 bytes (RFC 8200);
1280 - 40 (IPv6 header) - 8 (UDP header) = 1232, and 1200 leaves room for
tunnels.  A datagram that fits is never fragmented by IP (a lost fragment
loses the whole datagram, and many firewalls drop fragments), on IPv4 or
IPv6.  QUIC and DNS use the same bound for the same reason."""

JOIN_PADDING = 64
"""Clients pad the join to at least this many bytes, so the server's cookie
answer (26 bytes) fits under the anti-amplification rule (like QUIC, which
pads its first datagram to 1200)."""


# --- datagram format (sans-I/O) -----------------------------------------------

@dataclass(frozen=True)
class Join:
    cookie: str | None
    name: str


@dataclass(frozen=True)
class Message:
    seq: int
    payload: bytes  # the raw line, decoded and cleaned by the receiver


@dataclass(frozen=True)
class Keepalive:
    pass


@dataclass(frozen=True)
class Challenge:
    cookie: str


@dataclass(frozen=True)
class ServerLineDatagram:
    seq: int
    origin: int | None
    line: str


def encode_join(name: str, cookie: str | None = None, pad_to: int = JOIN_PADDING) -> bytes:
    """A join datagram, padded with dots to ``pad_to`` bytes (see JOIN_PADDING)."""
    data = f"J {cookie or '-'} {name}".encode("utf-8")
    if len(data) < pad_to:
        data += b" " + b"." * (pad_to - len(data) - 1)
    return data


def encode_message(seq: int, line: str) -> bytes:
    """A numbered line; raises ValueError if it would not fit in MAX_DATAGRAM."""
    data = f"M {seq} ".encode("ascii") + line.encode("utf-8")
    if len(data) > MAX_DATAGRAM:
        raise ValueError(f"the line is {len(data)} bytes as a datagram; the limit is {MAX_DATAGRAM}")
    return data


KEEPALIVE = b"K"


def encode_challenge(cookie: str) -> bytes:
    return f"C {cookie}".encode("ascii")


def encode_server_line(seq: int, origin: int | None, line: str) -> bytes:
    """``L SEQ ORIGIN LINE``, the line cut (at a character boundary) to fit MAX_DATAGRAM."""
    head = f"L {seq} {origin if origin is not None else '-'} ".encode("ascii")
    body = line.rstrip("\r\n").encode("utf-8")
    room = MAX_DATAGRAM - len(head)
    if len(body) > room:
        body = body[: room - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."
    return head + body


def decode_client(data: bytes) -> Join | Message | Keepalive | None:
    """What a client sent; None for anything that does not follow the format."""
    if data == KEEPALIVE:
        return Keepalive()
    kind, _, rest = data.partition(b" ")
    if kind == b"J":
        parts = rest.split(b" ")
        if len(parts) < 2 or not parts[0]:
            return None
        cookie = parts[0].decode("ascii", errors="replace")
        name = p.clean_text(parts[1].decode("utf-8", errors="replace"))
        return Join(None if cookie == "-" else cookie, name)
    if kind == b"M":
        seq, sep, payload = rest.partition(b" ")
        if not seq.isdigit() or not sep or int(seq) < 1:
            return None
        return Message(int(seq), payload)
    return None


def decode_server(data: bytes) -> Challenge | ServerLineDatagram | None:
    """What the server sent; None for anything that does not follow the format."""
    kind, _, rest = data.partition(b" ")
    if kind == b"C" and rest:
        return Challenge(rest.decode("ascii", errors="replace"))
    if kind == b"L":
        parts = rest.split(b" ", 2)
        if len(parts) == 3 and parts[0].isdigit() and (parts[1] == b"-" or parts[1].isdigit()):
            origin = None if parts[1] == b"-" else int(parts[1])
            return ServerLineDatagram(int(parts[0]), origin, parts[2].decode("utf-8", errors="replace"))
    return None

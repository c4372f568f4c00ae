"""The UDP chat's datagram format (sans-I/O): encode and decode the join,
message, keepalive, cookie-challenge, server-line and hint datagrams (as
bytes and as small frozen dataclasses), within the size limits they obey
(``MAX_DATAGRAM``, ``JOIN_PADDING``).  Pure functions, no sockets, no threads.

Every datagram the server sends ends with CRLF, like a TCP server line, so
``nc -u`` shows one per row; the client may end its datagrams with a line
end or not (``nc -u`` sends one).

These are the chat's datagrams only.  lab/udp/reliable.py has a binary
format of its own (one byte of kind, a 32-bit sequence number, a payload)
for the reliable stream of exercise 12 and `chatlab compare`.

>>> encode_join("alice", pad_to=0)
b'J - alice'
>>> decode_client(b"M 7 hello\\n")
Message(seq=7, payload=b'hello\\n')
>>> decode_server(encode_server_line(3, 1, "12:00:00 <bob> hi"))
ServerLineDatagram(seq=3, origin=1, line='12:00:00 <bob> hi')
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.chat import limits
from lab.chat import wire as p

MAX_DATAGRAM = limits.MAX_DATAGRAM_BYTES
"""Largest UDP payload we send or accept, in bytes (1200), so that a datagram is not fragmented.

IPv6 guarantees that every link carries packets of at least 1280 bytes
(RFC 8200); 1280 - 40 (IPv6 header) - 8 (UDP header) = 1232, and 1200
leaves room for tunnels: on IPv6 a datagram that fits is never fragmented.
IPv4 guarantees only 576 bytes (every host must accept a 576-byte
datagram, RFC 791 and RFC 1122), so on an IPv4 path with a small MTU a
1200-byte datagram can still be fragmented; the links a classroom uses
carry 1500.  Fragmentation matters because a datagram is lost whole when
any fragment is lost, and many firewalls and NATs drop fragments.  QUIC
requires paths to carry 1200-byte datagrams (RFC 9000, section 14) and DNS
recommends a 1232-byte buffer, for the same reason (docs/UDP.md, "Sizes")."""

JOIN_PADDING = limits.JOIN_PADDING_BYTES
"""Clients pad the join to at least this many bytes (64), so the server's
cookie answer (28 bytes) fits under the anti-amplification rule (like QUIC,
which pads its first datagram to 1200)."""

LINE_END = b"\r\n"
"""What every server datagram ends with."""


# --- datagram format (sans-I/O) -----------------------------------------------

@dataclass(frozen=True)
class Join:
    """``J COOKIE NAME [PADDING]``: join as NAME (``cookie`` None for the first try, ``-``)."""

    cookie: str | None
    name: str


@dataclass(frozen=True)
class Message:
    """``M SEQ LINE``: the client's line number ``seq`` (1, 2, 3...)."""

    seq: int
    payload: bytes  # the raw line, decoded and cleaned by the receiver


@dataclass(frozen=True)
class Keepalive:
    """``K``: nothing to say, but still here."""


@dataclass(frozen=True)
class Challenge:
    """``C COOKIE``: "send your join again with this cookie"."""

    cookie: str


@dataclass(frozen=True)
class ServerLineDatagram:
    """``L SEQ ORIGIN LINE``: one server line, the ``seq``-th sent to you.

    ``origin`` is the sender's own number for a chat message, None for the
    server's own lines.  ``line`` is as it arrived: show it only after
    ``wire.clean_text``.
    """

    seq: int
    origin: int | None
    line: str


@dataclass(frozen=True)
class Hint:
    """``hint: TEXT``: how to join, to an unknown address that sent something else."""

    text: str


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
"""The keepalive datagram."""

_HINT = b"hint: "


def encode_challenge(cookie: str) -> bytes:
    """``C COOKIE`` and the line end."""
    return f"C {cookie}".encode("ascii") + LINE_END


def encode_server_line(seq: int, origin: int | None, line: str) -> bytes:
    """``L SEQ ORIGIN LINE`` and the line end, the line cut (at a character boundary) to fit MAX_DATAGRAM."""
    head = f"L {seq} {origin if origin is not None else '-'} ".encode("ascii")
    body = line.rstrip("\r\n").encode("utf-8")
    room = MAX_DATAGRAM - len(head) - len(LINE_END)
    if len(body) > room:
        body = body[: room - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."
    return head + body + LINE_END


def encode_hint(text: str) -> bytes:
    """``hint: TEXT`` and the line end (ASCII text)."""
    return _HINT + text.encode("ascii") + LINE_END


def decode_client(data: bytes) -> Join | Message | Keepalive | None:
    """What a client sent; None for anything that does not follow the format.

    A line end after ``K`` or a join is allowed (``nc -u`` sends one); a
    message keeps it in its payload, where the line decoder removes it.
    """
    if data.rstrip(b"\r\n") == KEEPALIVE:
        return Keepalive()
    kind, _, rest = data.partition(b" ")
    if kind == b"J":
        parts = rest.rstrip(b"\r\n").split(b" ")
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


def decode_server(data: bytes) -> Challenge | ServerLineDatagram | Hint | None:
    """What the server sent; None for anything that does not follow the format.

    The line end is optional here (servers before the line end was added sent none).
    """
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(LINE_END) else data[:-1]
    if data.startswith(_HINT):
        return Hint(data[len(_HINT):].decode("ascii", errors="replace"))
    kind, _, rest = data.partition(b" ")
    if kind == b"C" and rest:
        return Challenge(rest.decode("ascii", errors="replace"))
    if kind == b"L":
        parts = rest.split(b" ", 2)
        if len(parts) == 3 and parts[0].isdigit() and (parts[1] == b"-" or parts[1].isdigit()):
            origin = None if parts[1] == b"-" else int(parts[1])
            return ServerLineDatagram(int(parts[0]), origin, parts[2].decode("utf-8", errors="replace"))
    return None

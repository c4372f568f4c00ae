"""Small helpers shared by the exercises (provided: nothing to write here).

The chat exercises speak a subset of the chat-lab protocol (docs/PROTOCOL.md),
so that your server works with ``chatlab client`` and with ``nc``:

- the client's first line is its name;
- every later line is a chat message to everyone else;
- every line the server sends is ``HH:MM:SS KIND BODY`` and ends with CRLF,
  where KIND is ``<NAME>`` (a chat message), ``***`` (someone joined or
  left), ``---`` (information for you) or ``!!!`` (an error for you).
"""

from __future__ import annotations

import time

#: The line end the server always sends.
CRLF = b"\r\n"


def clock() -> str:
    """The local time as ``HH:MM:SS``, the TIME field of every server line."""
    return time.strftime("%H:%M:%S")


def server_line(kind: str, body: str, now: str | None = None) -> bytes:
    """One server line, encoded and ended with CRLF.

    >>> server_line("<alice>", "hi", now="14:03:09")
    b'14:03:09 <alice> hi\\r\\n'
    """
    return f"{now or clock()} {kind} {body}".encode("utf-8") + CRLF


def read_lines(sock):
    """Yield the lines (str, without their line end) that arrive on SOCK.

    A simple framing loop, given to you for exercises 3 to 5 (exercise 2 is
    where you write a complete one).  Ends when the peer closes (``recv``
    returns ``b""``); an RST raises ``ConnectionResetError`` to the caller.
    """
    buffer = b""
    while True:
        data = sock.recv(4096)
        if not data:
            return
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode("utf-8", errors="replace")

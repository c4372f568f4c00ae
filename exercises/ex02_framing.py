"""Exercise 2: framing a byte stream into lines.

What you learn
--------------
TCP delivers a *stream of bytes*.  It keeps their order and loses none, but
it does not keep the boundaries of your ``send()`` calls: one ``recv()`` may
return half a message, or three messages glued together, or the end of one
and the start of the next.  Which one you get depends on timing, segment
sizes and buffers -- so code that assumes "one recv = one message" works on
your laptop and breaks on the network.

The chat protocol (docs/PROTOCOL.md) marks the end of each message with a
line end.  The receiver keeps the bytes that have arrived in a buffer, cuts
out every complete line, and keeps the incomplete tail for the next
``recv()``.  This is *framing*.

Two details matter:

- Cut the *bytes* first, decode to text afterwards.  A UTF-8 character is
  1 to 4 bytes and may be split between two ``recv()`` calls: decoding each
  chunk on its own breaks it.
- Accept the three line ends people's programs send: LF (``\\n``), CRLF
  (``\\r\\n``) and a lone CR (``\\r``, some telnet clients).  A CRLF whose
  ``\\r`` arrives at the end of one chunk and ``\\n`` at the start of the
  next is still ONE line end.

What to write
-------------
The class ``LineBuffer`` (``feed`` and ``pending``) and ``encode_line``.
This exercise has no sockets at all: it is pure logic ("sans-I/O"), which
is why it is easy to test.  Exercises 3 and 4 use the same idea.
"""

from __future__ import annotations


def encode_line(text: str) -> bytes:
    """Encode TEXT as one protocol line: UTF-8 bytes ending with CRLF.

    >>> encode_line("héllo")
    b'h\\xc3\\xa9llo\\r\\n'
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write encode_line() in exercises/ex02_framing.py")


class LineBuffer:
    """Turns chunks of bytes, as ``recv()`` returns them, into complete lines.

    >>> buf = LineBuffer()
    >>> buf.feed(b"hel")
    []
    >>> buf.feed(b"lo\\r\\nwor")
    ['hello']
    >>> buf.feed(b"ld\\nbye\\r")
    ['world', 'bye']
    """

    def __init__(self) -> None:
        self._buffer = b""  # bytes received but not yet part of a complete line
        self._after_cr = False  # the last line ended with a lone CR: a "\n" next is its LF

    def feed(self, data: bytes) -> list[str]:
        """Add DATA (bytes from one ``recv()``) and return the lines it completes.

        - Lines end with LF, CRLF or a lone CR; the line end is not part of
          the returned line.  A CRLF split between two calls (``\\r`` at the
          end of one chunk, ``\\n`` at the start of the next) is one line end,
          not an extra empty line.
        - Each complete line is decoded from UTF-8 with ``errors="replace"``
          (invalid bytes become U+FFFD) -- decode only complete lines.
        - Bytes after the last line end stay in the buffer for the next call.
        - Return the lines in order; ``[]`` when no line is complete yet.
          Empty lines are returned as ``""`` (the caller decides to ignore them).
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write feed() in exercises/ex02_framing.py")

    @property
    def pending(self) -> bytes:
        """The bytes received after the last line end (an incomplete line)."""
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write pending() in exercises/ex02_framing.py")

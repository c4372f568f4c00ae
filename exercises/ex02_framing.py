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

Limits, and the peer that never ends its line
---------------------------------------------
A buffer that keeps "everything until the line end" lets one client that
never sends a line end make the server keep bytes without end.  So framing
has limits, the chat's own (docs/PROTOCOL.md, "Limits";
``lab.chat.wire.MAX_LINE_BYTES`` and ``MAX_UNTERMINATED_BYTES``):

- a line longer than ``max_line`` bytes (1024) is *discarded*: stop keeping
  its bytes as soon as it is too long, and when its line end finally
  arrives, report ``LineTooLong(length, max_line)`` in its place.  The
  session goes on with the next line;
- when more than ``max_unterminated`` bytes (8192) arrive with no line end at
  all, report ``NoLineEnd(max_unterminated)`` once and give up: accept
  nothing more (the server then drops that client).

Memory then stays bounded by ``max_line``, whatever the peer sends.

The work must stay bounded too.  Data often arrives a few bytes at a time (a
slow link, a person typing in ``telnet``, a hostile client sending one byte
per segment).  If each ``feed`` searched the whole pending line again from
its start, a line of n bytes fed one byte at a time would cost
1 + 2 + ... + n, about n * n / 2 steps: quadratic.  The bytes already
pending were searched when they arrived and hold no line end: search only
the new bytes.  The tests count the steps your ``feed`` takes (Python lines,
and bytes looked at by ``find``, slicing, ``in``, ...), not the time.

What to write
-------------
The class ``LineBuffer`` (``__init__``, ``feed`` and ``pending``) and
``encode_line``.  This exercise has no sockets at all: it is pure logic
("sans-I/O"), which is why it is easy to test.  Exercises 3 and 4 use the
same idea, and ``lab/chat/wire.py`` (``LineDecoder``) is the kit's own
version, with the same limits.
"""

from __future__ import annotations

import re

from lab.chat.wire import MAX_LINE_BYTES, MAX_UNTERMINATED_BYTES, LineTooLong, NoLineEnd

__all__ = ["LineBuffer", "LineTooLong", "NoLineEnd", "encode_line"]

#: The first CR or LF: one pass over the bytes finds whichever comes first.
LINE_END = re.compile(rb"[\r\n]")


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
    >>> LineBuffer(max_line=4).feed(b"much too long\\nok\\n")
    [LineTooLong(length=13, limit=4), 'ok']
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES, max_unterminated: int = MAX_UNTERMINATED_BYTES) -> None:
        """Keep the two limits as ``self.max_line`` and ``self.max_unterminated``, and set up your state.

        You will need at least: the bytes of the current line kept so far
        (a ``bytearray``: appending to it is cheap, while ``bytes + bytes``
        copies both every time), how many bytes the current line has had
        (kept or discarded), whether the last chunk ended with a CR, and
        whether you gave up.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write __init__() in exercises/ex02_framing.py")

    def feed(self, data: bytes) -> list:
        """Add DATA (bytes from one ``recv()``) and return what it completes, in order.

        Each item is one of:

        - a ``str``: a complete line, without its line end, decoded from
          UTF-8 with ``errors="replace"`` (invalid bytes become U+FFFD) --
          decode only complete lines.  Empty lines are returned as ``""``
          (the caller decides to ignore them);
        - ``LineTooLong(length, self.max_line)`` in place of a line of more
          than ``max_line`` bytes (LENGTH: its bytes, line end not counted);
        - ``NoLineEnd(self.max_unterminated)``, once, when the bytes since the
          last line end (kept or discarded) become more than
          ``max_unterminated``.  After it, every ``feed`` returns ``[]``.

        Lines end with LF, CRLF or a lone CR.  A CRLF split between two calls
        (``\\r`` at the end of one chunk, ``\\n`` at the start of the next) is
        one line end, not an extra empty line.  Bytes after the last line end
        stay for the next call.  Return ``[]`` when nothing is complete yet.

        Look at each new byte a bounded number of times: search for line
        ends only in DATA (``LINE_END.search(data, start)`` finds the next CR
        or LF from ``start`` on), never again in what is already kept.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write feed() in exercises/ex02_framing.py")

    @property
    def pending(self) -> bytes:
        """The bytes kept for the incomplete current line (``b""`` while one is being discarded)."""
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write pending() in exercises/ex02_framing.py")

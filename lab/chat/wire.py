"""The chat-lab wire protocol, as plain code over bytes and strings.

Nothing in this module touches a socket, a thread or a clock it was not
given.  The TCP server, the UDP server, the client, the tests and the
notebooks all share it; docs/PROTOCOL.md is the human-readable spec.

The pieces, in the order a byte meets them:

* ``LineDecoder`` turns the bytes ``recv()`` returns - split and merged in
  any way TCP likes - into lines, with limits;
* ``clean_text`` removes what must never reach another person's terminal;
* ``check_name`` and ``parse_command`` decide what a line means;
* the ``format_*`` functions build the lines the server sends;
* ``parse_server_line`` reads them back (client, tests, load generator).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Iterable, Union

# The limits the wire format enforces.  Every default lives in lab/chat/limits.py;
# the names stay importable from here because this is where they apply.
from lab.chat.limits import DEFAULT_PORT, HISTORY_SIZE, MAX_LINE_BYTES, MAX_NAME_CHARS, MAX_UNTERMINATED_BYTES

__all__ = [
    "DEFAULT_PORT", "HISTORY_SIZE", "MAX_LINE_BYTES", "MAX_NAME_CHARS", "MAX_UNTERMINATED_BYTES",
    "Line", "LineTooLong", "NoLineEnd", "DecoderEvent", "LineDecoder", "clean_text",
    "NAME_RULE", "check_name", "name_key",
    "Say", "PrivateMessage", "ListUsers", "Help", "Quit", "Bot", "BadCommand", "Command", "COMMANDS_HELP",
    "parse_command", "timestamp", "encode", "encode_lines", "format_public", "format_private",
    "format_private_echo", "format_joined", "format_left", "format_info", "format_error", "own_message",
    "SERVER_LINE", "ServerLine", "parse_server_line", "reason_keyword",
]

# --- decoding: bytes -> lines -------------------------------------------------

@dataclass(frozen=True)
class Line:
    """A complete line: decoded, cleaned, never empty."""

    text: str


@dataclass(frozen=True)
class LineTooLong:
    """A line over the limit ended; it was discarded.  The session goes on."""

    length: int
    limit: int


@dataclass(frozen=True)
class NoLineEnd:
    """Too many bytes arrived without a line end; the peer must be dropped."""

    limit: int


DecoderEvent = Union[Line, LineTooLong, NoLineEnd]

# Telnet (RFC 854): byte 255 (IAC, "interpret as command") starts a command.
_IAC, _SB, _SE = 255, 250, 240
_WILL, _WONT, _DO, _DONT = 251, 252, 253, 254
# States of the telnet filter.
_DATA, _AFTER_IAC, _OPTION, _SUBNEG, _SUBNEG_IAC = range(5)


class LineDecoder:
    """Split a byte stream into lines, whatever the ``recv()`` boundaries.

    TCP delivers a stream of bytes, not messages: one ``recv()`` may return
    half a line, or three lines and the start of a fourth.  ``feed`` keeps
    the unfinished part until the rest arrives, so the lines that come out
    are the same however the bytes were cut.

    Lines end with LF, CRLF or a lone CR.  Telnet IAC sequences and NUL are
    dropped.  Each line is decoded as UTF-8 (invalid bytes become U+FFFD),
    cleaned with ``clean_text`` and stripped; empty lines are skipped.

    A line longer than ``max_line`` bytes is discarded and reported once as
    ``LineTooLong`` when it finally ends.  If ``max_unterminated`` bytes
    arrive with no line end at all, ``NoLineEnd`` is reported and the
    decoder accepts nothing more.  Memory use is bounded by ``max_line``.

    >>> decoder = LineDecoder(max_line=10)
    >>> decoder.feed(b"hel")
    []
    >>> decoder.feed(b"lo\\r\\nwor")
    [Line(text='hello')]
    >>> decoder.feed(b"ld\\n" + b"x" * 20 + b"\\n")
    [Line(text='world'), LineTooLong(length=20, limit=10)]
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES, max_unterminated: int = MAX_UNTERMINATED_BYTES):
        self.max_line = max_line
        self.max_unterminated = max_unterminated
        self._buffer = bytearray()
        self._run = 0  # bytes since the last line end, including discarded ones
        self._discarding = False
        self._skip_lf = False  # the previous chunk ended with CR: a LF now belongs to it
        self._telnet = _DATA
        self.failed = False

    def feed(self, data: bytes) -> list[DecoderEvent]:
        """Take the next bytes of the stream; return the events they complete."""
        if self.failed:
            return []
        data = self._filter(data)
        events: list[DecoderEvent] = []
        start = 0
        if self._skip_lf and data[:1] == b"\n":
            start = 1
        self._skip_lf = False
        while True:
            end = _next_line_end(data, start)
            if end < 0:
                self._take(data[start:], events)
                return events
            self._take(data[start:end], events)
            if self.failed:
                return events
            self._finish_line(events)
            # CRLF counts as one line end; a CR at the very end may be the
            # first half of a CRLF whose LF comes in the next chunk.
            if data[end] == 0x0D:
                if end + 1 < len(data):
                    start = end + 2 if data[end + 1] == 0x0A else end + 1
                else:
                    self._skip_lf = True
                    start = end + 1
            else:
                start = end + 1

    def _take(self, piece: bytes, events: list[DecoderEvent]) -> None:
        """Add bytes of the current line, enforcing both limits."""
        if not piece:
            return
        self._run += len(piece)
        if self._run > self.max_unterminated:
            self.failed = True
            self._buffer.clear()
            events.append(NoLineEnd(self.max_unterminated))
            return
        if self._discarding:
            return
        self._buffer += piece
        if len(self._buffer) > self.max_line:
            self._discarding = True
            self._buffer.clear()

    def _finish_line(self, events: list[DecoderEvent]) -> None:
        if self._discarding:
            events.append(LineTooLong(self._run, self.max_line))
        else:
            text = clean_text(self._buffer.decode("utf-8", errors="replace"))
            if text:
                events.append(Line(text))
        self._buffer.clear()
        self._run = 0
        self._discarding = False

    def _filter(self, data: bytes) -> bytes:
        """Drop NUL bytes and telnet IAC sequences (which may span chunks)."""
        if self._telnet == _DATA and 0xFF not in data:
            return data.replace(b"\0", b"") if 0 in data else data
        out = bytearray()
        state = self._telnet
        for byte in data:
            if state == _DATA:
                if byte == _IAC:
                    state = _AFTER_IAC
                elif byte:
                    out.append(byte)
            elif state == _AFTER_IAC:
                if byte in (_WILL, _WONT, _DO, _DONT):
                    state = _OPTION
                elif byte == _SB:
                    state = _SUBNEG
                else:  # a two-byte command, or IAC IAC (a literal 255, never valid UTF-8)
                    state = _DATA
            elif state == _OPTION:
                state = _DATA
            elif state == _SUBNEG:
                if byte == _IAC:
                    state = _SUBNEG_IAC
            elif state == _SUBNEG_IAC:
                state = _DATA if byte == _SE else _SUBNEG
        self._telnet = state
        return bytes(out)


def _next_line_end(data: bytes, start: int) -> int:
    """Index of the next CR or LF at or after ``start``, or -1."""
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start)
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)


# --- cleaning: what may reach a terminal --------------------------------------

_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[ [0-?]* [ -/]* [@-~]?              # CSI: ESC [ params intermediates final
    | \x9b [0-?]* [ -/]* [@-~]?                 # CSI, 8-bit form
    | \x1b\] [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)?   # OSC ... BEL or ST (titles, hyperlinks)
    | \x9d [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)?
    | \x1b[PX^_] [^\x1b\x9c]* (?:\x1b\\|\x9c)?  # DCS, SOS, PM, APC ... ST
    | [\x90\x98\x9e\x9f] [^\x1b\x9c]* (?:\x1b\\|\x9c)?
    | \x1b [ -/]* [0-~]?                        # any other escape sequence
    """,
    re.VERBOSE,
)
# C0 controls, DEL, C1 controls, bidirectional overrides and isolates,
# and the Unicode line/paragraph separators some terminals treat as newlines.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def clean_text(text: str) -> str:
    """Remove everything from ``text`` that a terminal would interpret.

    Whole ANSI/VT escape sequences are removed (not just their ESC byte,
    which would leave ``[31m`` behind), then the remaining C0/C1 control
    characters and Unicode bidirectional overrides.  A TAB becomes a space.
    Leading and trailing white space is stripped.  Rich markup such as
    ``[bold]`` is *not* touched here: it is ordinary text, and every place
    that displays text shows it literally.

    ``clean_text(clean_text(s)) == clean_text(s)`` for every string.

    >>> clean_text("\\x1b[31mred\\x1b[0m\\tand [bold]markup[/]\\x07 ")
    'red and [bold]markup[/]'
    """
    if text.isprintable():
        return text.strip()
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.replace("\t", " ")
    return _CONTROL.sub("", text).strip()


# --- names --------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

NAME_RULE = (
    f"a name has 1-{MAX_NAME_CHARS} characters: ASCII letters, digits, '_' and '-', "
    "and starts with a letter"
)


def check_name(name: str) -> str | None:
    """Return why ``name`` is not allowed, or None if it is.

    Names are ASCII so that two names that look the same are the same
    (no look-alike letters from other scripts), and have no spaces or
    markup characters so that ``<NAME>`` in a server line is unambiguous.

    >>> check_name("alice_2") is None
    True
    >>> check_name("9lives")
    "'9lives' is not allowed; a name has 1-16 characters: ASCII letters, digits, '_' and '-', and starts with a letter"
    """
    if not name:
        return "the name is empty; " + NAME_RULE
    if len(name) > MAX_NAME_CHARS:
        return f"{name[:20]!r} is {len(name)} characters long; " + NAME_RULE
    if not _NAME.match(name):
        return f"{name!r} is not allowed; " + NAME_RULE
    return None


def name_key(name: str) -> str:
    """The key under which names are unique: 'Alice' and 'alice' clash."""
    return name.casefold()


# --- commands: what a client line means --------------------------------------

@dataclass(frozen=True)
class Say:
    """A chat message to everyone else."""

    text: str


@dataclass(frozen=True)
class PrivateMessage:
    """``/msg TO TEXT``: a message to one member only."""

    to: str
    text: str


@dataclass(frozen=True)
class ListUsers:
    """``/list``: who is online."""


@dataclass(frozen=True)
class Help:
    """``/help``: the list of commands."""


@dataclass(frozen=True)
class Quit:
    """``/quit [REASON]``: leave; the others see the reason."""

    reason: str = ""


@dataclass(frozen=True)
class Bot:
    """``/bot``: this member is a program (``chatlab load``), its messages stay out of history."""


@dataclass(frozen=True)
class BadCommand:
    """A command the server answers with an error; ``code`` is the !!! code."""

    code: str
    message: str


Command = Union[Say, PrivateMessage, ListUsers, Help, Quit, Bot, BadCommand]

COMMANDS_HELP = (
    ("/msg NAME TEXT", "send TEXT to NAME only"),
    ("/list", "who is online"),
    ("/help", "this list"),
    ("/quit [REASON]", "leave the chat (the others see the reason)"),
    ("/bot", "mark yourself as a program: your messages stay out of history"),
    ("//TEXT", "send a message that starts with '/'"),
)
"""(usage, meaning) of every command, in the order ``/help`` lists them."""

_ALIASES = {
    "/msg": "/msg", "/m": "/msg", "/w": "/msg",
    "/list": "/list", "/who": "/list", "/names": "/list",
    "/help": "/help", "/?": "/help",
    "/quit": "/quit", "/exit": "/quit", "/bye": "/quit",
    "/bot": "/bot",
}


def parse_command(text: str) -> Command:
    """Decide what a (clean, non-empty) line from a member asks for.

    Commands ignore case and have short aliases (``/m``, ``/who``, ``/bye``...).

    >>> parse_command("hello")
    Say(text='hello')
    >>> parse_command("/M bob see you at noon")
    PrivateMessage(to='bob', text='see you at noon')
    >>> parse_command("//shrug")
    Say(text='/shrug')
    >>> parse_command("/nope")
    BadCommand(code='unknown-command', message='/nope is not a command; type /help for the list')
    """
    if not text.startswith("/"):
        return Say(text)
    if text.startswith("//"):
        return Say(text[1:])
    word, _, rest = text.partition(" ")
    word = word.lower()
    rest = rest.strip()
    command = _ALIASES.get(word)
    if command == "/msg":
        to, _, message = rest.partition(" ")
        message = message.strip()
        if not to or not message:
            return BadCommand("usage", "usage: /msg NAME TEXT")
        return PrivateMessage(to, message)
    if command == "/list":
        return ListUsers()
    if command == "/help":
        return Help()
    if command == "/quit":
        return Quit(rest)
    if command == "/bot":
        return Bot()
    return BadCommand("unknown-command", f"{word} is not a command; type /help for the list")


# --- server lines: building them ---------------------------------------------

def timestamp(now: float) -> str:
    """``HH:MM:SS`` in the server's local time."""
    return time.strftime("%H:%M:%S", time.localtime(now))


def encode(line: str) -> bytes:
    """The bytes of one server line: UTF-8 with the CRLF every line ends with.

    >>> encode("12:00:00 <bob> hé")
    b'12:00:00 <bob> h\\xc3\\xa9\\r\\n'
    """
    return line.encode("utf-8") + b"\r\n"


def encode_lines(lines: Iterable[str]) -> bytes:
    """The bytes of several server lines, each ending with CRLF, in order."""
    return b"".join(encode(line) for line in lines)


def format_public(now: float, sender: str, text: str) -> str:
    """``TIME <SENDER> TEXT``: a chat message to everyone."""
    return f"{timestamp(now)} <{sender}> {text}"


def format_private(now: float, sender: str, text: str) -> str:
    """``TIME *SENDER* TEXT``: a private message, as its recipient sees it."""
    return f"{timestamp(now)} *{sender}* {text}"


def format_private_echo(now: float, recipient: str, text: str) -> str:
    """``TIME ->RECIPIENT TEXT``: the sender's copy of a private message."""
    return f"{timestamp(now)} ->{recipient} {text}"


def format_joined(now: float, name: str) -> str:
    """``TIME *** NAME joined``."""
    return f"{timestamp(now)} *** {name} joined"


def format_left(now: float, name: str, reason: str) -> str:
    """``TIME *** NAME left (REASON)``; REASON starts with a keyword (``reason_keyword``)."""
    return f"{timestamp(now)} *** {name} left ({reason})"


def format_info(now: float, code: str, text: str) -> str:
    """``TIME --- CODE: TEXT``: information for one member."""
    return f"{timestamp(now)} --- {code}: {text}"


def format_error(now: float, code: str, text: str) -> str:
    """``TIME !!! CODE: TEXT``: an error for one member."""
    return f"{timestamp(now)} !!! {code}: {text}"


def own_message(now: float, sender: str, typed: str) -> str | None:
    """The line the others receive when ``sender`` types ``typed``, or None for a command.

    A client draws the user's own chat message with it (the server never
    echoes a public message back to its sender), so it looks exactly like
    the copies everyone else gets: cleaned, and ``//x`` shown as ``/x``.

    >>> own_message(0, "alice", "  hi \\x1b[31mthere ")[9:]
    '<alice> hi there'
    >>> own_message(0, "alice", "/list") is None
    True
    """
    text = clean_text(typed)
    if not text:
        return None
    command = parse_command(text)
    return format_public(now, sender, command.text) if isinstance(command, Say) else None


# --- server lines: reading them back -----------------------------------------

SERVER_LINE = re.compile(r"^(\d\d:\d\d:\d\d) (<[^ ]+>|\*[^ ]+\*|->[^ ]+|\*\*\*|---|!!!) (.*)$")
"""The rule every server line follows (docs/PROTOCOL.md)."""

_EVENT = re.compile(r"^([^ ]+) (joined|left)(?: \((.*)\))?$")


@dataclass(frozen=True)
class ServerLine:
    """One line from the server, taken apart.

    ``kind`` is one of: public, private, private-echo, event, info, error.
    For chat kinds ``name`` is the other person and ``text`` the message.
    For info and error lines ``code`` is the code and ``text`` the rest.
    For events ``name`` is who joined or left, ``code`` is "joined" or
    "left", and ``text`` the reason someone left ("" for a join).
    """

    time: str
    kind: str
    name: str | None
    code: str | None
    text: str


def parse_server_line(line: str) -> ServerLine | None:
    """Take a server line apart; None if it does not follow the rule.

    >>> parse_server_line("14:03:31 *** dave left (reset: the connection was reset, RST)")
    ServerLine(time='14:03:31', kind='event', name='dave', code='left', text='reset: the connection was reset, RST')
    >>> parse_server_line("14:03:40 !!! no-such-user: nobody called 'zed' is online").code
    'no-such-user'
    >>> parse_server_line("hello") is None
    True
    """
    match = SERVER_LINE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    when, marker, body = match.groups()
    if marker.startswith("<"):
        return ServerLine(when, "public", marker[1:-1], None, body)
    if marker.startswith("->"):
        return ServerLine(when, "private-echo", marker[2:], None, body)
    if marker == "***":
        event = _EVENT.match(body)
        if event is None:
            return ServerLine(when, "event", None, None, body)
        who, what, reason = event.groups()
        return ServerLine(when, "event", who, what, reason or "")
    if marker.startswith("*"):
        return ServerLine(when, "private", marker[1:-1], None, body)
    code, sep, text = body.partition(": ")
    if not sep:
        code, text = None, body
    return ServerLine(when, "info" if marker == "---" else "error", None, code, text)


def reason_keyword(reason: str) -> str:
    """The keyword a leave reason starts with: quit, closed, reset, ...

    >>> reason_keyword("dropped: send queue exceeded")
    'dropped'
    """
    return reason.split(":", 1)[0].strip()

"""What a TCP chat client decides, sans-I/O (the same shape as lab/udp/client_core.py).

``ClientCore`` takes the bytes the server sent and answers with *events*:
show this line, the server wants a name, we joined, the server refused us,
the connection ended and why.  It checks the greeting (is this a chat-lab
server at all? a TLS server?), retries refused names, brackets the history
block and remembers why the server said goodbye.  It never touches a socket
or a thread: lab/tcp/client.py feeds it what ``recv()`` returns and carries
out what it says, and the tests drive it with plain bytes.

>>> core = ClientCore("127.0.0.1:5050")
>>> core.receive(b"12:00:00 --- hello: welcome to chat-lab! What is your name?\\r\\n")
[NameWanted(problem='')]
>>> core.name_line("alice")
b'alice\\n'
>>> [type(e).__name__ for e in core.receive(b"12:00:01 --- welcome: you are alice; 1 online: alice.\\r\\n")]
['Show', 'Joined']
>>> core.connection_closed()
Ended(how='fin', detail='the server closed the connection')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from lab.chat import limits, wire
from lab.tls.detect import looks_like_tls_record

# --- what the core tells the I/O layer ----------------------------------------


@dataclass(frozen=True)
class Show:
    """Display this server line (already cleaned); ``in_history`` inside the history block."""

    line: str
    parsed: wire.ServerLine | None
    in_history: bool = False


@dataclass(frozen=True)
class NameWanted:
    """The server asks for a name: after its hello (``problem`` empty) or after refusing one."""

    problem: str


@dataclass(frozen=True)
class Joined:
    """The server accepted ``name``; chatting starts."""

    name: str


@dataclass(frozen=True)
class Refused:
    """The session cannot start; ``message`` is one line for the user (what happened, what to do)."""

    message: str


@dataclass(frozen=True)
class Ended:
    """The connection ended after we joined: ``how`` is a key of lab.lifecycle.ENDINGS."""

    how: str
    detail: str


ClientEvent = Union[Show, NameWanted, Joined, Refused, Ended]

_NAME_REFUSALS = ("name-taken", "name-invalid")

GREETING, NAMING, JOINED, OVER = "greeting", "naming", "joined", "over"
"""The states of a session: waiting for the hello, a name sent, chatting, finished."""


# --- reading server lines ---------------------------------------------------------


class LineView:
    """How a client reads the server lines of a session: history brackets, the goodbye.

    Shared by the TCP and the UDP client: ``show(line)`` cleans the line
    (a hostile server, or a forged UDP datagram, may send escape codes) and
    says whether it is inside the history block; ``goodbye`` keeps why the
    server said it was closing, for the last line the user sees.

    >>> view = LineView()
    >>> view.show("12:00:00 --- history: the last 1 message before you joined").in_history
    False
    >>> view.show("11:59:00 <bob> hi \\x1b[2Jthere")
    Show(line='11:59:00 <bob> hi there', parsed=ServerLine(time='11:59:00', kind='public', name='bob', code=None, \
text='hi there'), in_history=True)
    """

    def __init__(self) -> None:
        self.in_history = False
        self.goodbye: str | None = None  # "the server is shutting down", once it said so

    def show(self, line: str) -> Show:
        """The ``Show`` event for one server line."""
        line = wire.clean_text(line)
        parsed = wire.parse_server_line(line)
        if parsed is None:
            return Show(line, None, False)
        bracket = parsed.kind == "info" and parsed.code in ("history", "history-end")
        if parsed.kind == "info" and parsed.code == "history":
            self.in_history = True
        elif parsed.kind == "info" and parsed.code == "history-end":
            self.in_history = False
        elif parsed.kind == "info" and parsed.code == "shutdown":
            self.goodbye = "the server is shutting down"
        return Show(line, parsed, self.in_history and not bracket)


# --- the TCP client's decisions ----------------------------------------------------


class ClientCore:
    """One TCP chat session as the client sees it, from the first byte to the end.

    ``receive(data)`` takes what ``recv()`` returned and gives the events in
    order; ``connection_closed()`` / ``connection_reset()`` say how the
    stream ended.  ``name_line``, ``line`` and ``silence_probe`` give the
    bytes to send.  ``server`` ("host:port") is only for the wording.
    """

    def __init__(self, server: str):
        self.server = server
        self.state = GREETING
        self.name: str | None = None
        self.requested: str | None = None
        self.view = LineView()
        self.decoder = wire.LineDecoder(max_line=limits.MAX_SERVER_LINE_BYTES,
                                        max_unterminated=4 * limits.MAX_SERVER_LINE_BYTES)
        self.bytes_in = 0
        self.lines_in = 0
        self.probed = False
        self._first = True

    @property
    def in_history(self) -> bool:
        """True between the history block's first and last lines."""
        return self.view.in_history

    # -- what arrives ----------------------------------------------------------

    def receive(self, data: bytes) -> list[ClientEvent]:
        """Bytes from the server (any piece of the stream): the events they complete."""
        if self.state == OVER or not data:
            return []
        self.bytes_in += len(data)
        if self._first:
            self._first = False
            if self.state == GREETING and looks_like_tls_record(data):
                # A TLS server answering our silence probe with an alert, or any TLS record.
                return self._refuse(self._tls_port())
        events: list[ClientEvent] = []
        for event in self.decoder.feed(data):
            if isinstance(event, wire.Line):
                self.lines_in += 1
                events += self._line(event.text)
            elif isinstance(event, wire.NoLineEnd):
                events += self._refuse(f"{self.server} sent {event.limit} bytes without a line end: "
                                       "this is not a chat-lab server")
            if self.state == OVER:
                break
        return events

    def _line(self, text: str) -> list[ClientEvent]:
        if self.state == JOINED:
            return [self.view.show(text)]
        parsed = wire.parse_server_line(text)
        if parsed is None:
            return self._refuse(f"this does not look like a chat-lab server (it sent {text[:60]!r})")
        if parsed.kind == "error" and parsed.code == "tls-required":
            return self._refuse(self._tls_port())
        if self.state == GREETING:
            if parsed.kind == "error":
                return self._refuse(parsed.text)
            if parsed.kind != "info" or parsed.code != "hello":
                return self._refuse(f"unexpected first line from the server: {parsed.text!r}")
            self.state = NAMING
            return [NameWanted("")]
        # NAMING: the answer to the name we sent
        if parsed.kind == "info" and parsed.code == "welcome":
            self.state, self.name = JOINED, self.requested
            return [self.view.show(text), Joined(self.requested or "")]
        if parsed.kind == "error" and parsed.code in _NAME_REFUSALS:
            return [NameWanted(parsed.text)]
        if parsed.kind == "error":
            return self._refuse(parsed.text)
        return self._refuse(f"the server refused: {parsed.text}")

    def connection_closed(self) -> ClientEvent:
        """``recv()`` returned b"" (the server's FIN)."""
        if self.state in (GREETING, NAMING):
            return self._refuse("the server closed the connection" + self._silent_hint())[0]
        self.state = OVER
        return Ended("fin", self.view.goodbye or "the server closed the connection")

    def connection_reset(self) -> ClientEvent:
        """``recv()`` raised ConnectionResetError (an RST)."""
        if self.state in (GREETING, NAMING):
            return self._refuse("the server reset the connection (RST)" + self._silent_hint())[0]
        self.state = OVER
        return Ended("rst", "the connection was reset (RST)")

    def _silent_hint(self) -> str:
        # Silent, then gone after our probe: what a TLS server that sends no alert does.
        if self.probed and self.bytes_in == 0:
            return " without a word, as a TLS server does when it gets plain text: if it runs with --tls, add --tls"
        return ""

    def silent_for(self, seconds: float) -> str:
        """The server sent nothing for ``seconds`` during the greeting: the line for the user."""
        return f"no answer from {self.server} within {seconds:g} s (is it a chat-lab server?)"

    # -- what to send ----------------------------------------------------------

    def name_line(self, name: str) -> bytes:
        """The line that asks for ``name``."""
        self.requested = name
        return _line_bytes(name)

    def line(self, text: str) -> bytes:
        """A line the user typed, as bytes to send."""
        return _line_bytes(text)

    def silence_probe(self) -> bytes:
        """What to send when the server stays silent after connect (``HELLO_PROBE_AFTER_S``).

        A chat-lab server greets at once, but a TLS server waits for our
        ClientHello in silence.  Empty lines are ignored by a chat server
        (docs/PROTOCOL.md) and make a TLS server answer: the kit's own with
        ``!!! tls-required`` in plain text, others with a TLS alert or by
        closing.  Three of them, because a TLS server decides only once it
        has the 5 bytes of a record header (OpenSSL waits for them).
        """
        self.probed = True
        return b"\r\n" * 3

    # -- helpers -----------------------------------------------------------------

    def _tls_port(self) -> str:
        return f"{self.server} speaks TLS: add --tls (and --cafile with the lab's ca.pem)"

    def _refuse(self, message: str) -> list[ClientEvent]:
        self.state = OVER
        return [Refused(message)]


def is_quit(typed: str) -> bool:
    """True if ``typed`` is ``/quit`` (or an alias): the server ends the session after its bye.

    >>> is_quit("/BYE see you"), is_quit("quit")
    (True, False)
    """
    text = wire.clean_text(typed)
    return bool(text) and isinstance(wire.parse_command(text), wire.Quit)


def _line_bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="replace") + b"\n"

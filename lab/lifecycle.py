"""The life of each connection, as structured events and as sentences.

Both the server and the client report what happens to their connections:
the listening socket, each accepted connection with its 4-tuple, the
ephemeral port the client's OS chose, how long ``connect()`` took (about one
round trip: it returns when the SYN-ACK arrives), the bytes and messages,
and how the connection ended (FIN, RST, timeout, ...).  Each report is an ``Event``: a small record with
a ``kind`` and a ``to_dict()`` for tests and notebooks, and a sentence for
the student reading the terminal.

``EventLog`` collects events, shows them with rich (how many depends on the
verbosity), writes them as JSON lines if asked, and passes them to
subscribers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Callable, ClassVar

from lab.net.addresses import Address, host_port


def _count(n: int, noun: str) -> str:
    """``1 line``, ``2 lines``, ``0 bytes``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def fmt_addr(addr: Address) -> str:
    """``host:port``, with brackets around IPv6 hosts."""
    return host_port(addr[0], addr[1])


# How a connection ended: the keyword, and what it means on the wire.
ENDINGS = {
    "fin": "FIN: recv() returned b'', the peer closed its side (an orderly close)",
    "rst": "RST: recv() raised ConnectionResetError, the connection was aborted (reset)",
    "timeout": "timeout: the peer stopped answering",
    "quit": "/quit: the member asked to leave, and the server closed the connection",
    "dropped": "dropped by the server",
    "shutdown": "server shutdown",
    "local": ("closed by this side: closing the last descriptor of the socket sends a FIN "
              "(an RST instead if received data was still unread, or with SO_LINGER 0)"),
    "error": "error",
}


@dataclass
class Event:
    """One thing that happened to a connection (or a listening socket)."""

    kind: ClassVar[str] = "event"
    level: ClassVar[int] = 1  # shown at this verbosity and above
    side: str = "server"  # "server" or "client"
    conn: int | None = None  # the server's connection number, #1, #2, ...
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Every field and the ``kind``: what the JSON lines and the notebooks get."""
        data = asdict(self)
        data["kind"] = self.kind
        return data

    def sentence(self) -> str:  # pragma: no cover - every subclass has one
        """What happened, in one sentence for a student reading the terminal."""
        return self.kind


@dataclass
class Listening(Event):
    """The server's socket is bound (TCP: and listening); ``backlog`` is listen()'s queue."""

    kind: ClassVar[str] = "listening"
    address: Address = ("", 0)
    backlog: int = 0
    transport: str = "TCP"

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        if self.transport == "UDP":
            return f"bound UDP socket to {fmt_addr(self.address)}: no listen(), no accept(), no handshake: datagrams just arrive"
        return (f"listening on {fmt_addr(self.address)} ({self.transport}, backlog {self.backlog}): from now on the "
                "kernel completes three-way handshakes by itself, and accept() hands us each new connection")


@dataclass
class Accepted(Event):
    """accept() returned a connection: its 4-tuple, the client's ephemeral port."""

    kind: ClassVar[str] = "accepted"
    client: Address = ("", 0)
    server: Address = ("", 0)

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return (f"accepted {fmt_addr(self.client)} -> {fmt_addr(self.server)}: handshake complete. "
                f"4-tuple ({self.client[0]}, {self.client[1]}, {self.server[0]}, {self.server[1]}); "
                f"{self.client[1]} is the ephemeral port the client's OS chose")


@dataclass
class Refused(Event):
    """The server turned a connection away (server full); ``reason`` says why."""

    kind: ClassVar[str] = "refused"
    client: Address = ("", 0)
    reason: str = ""

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return f"turned away {fmt_addr(self.client)}: {self.reason}"


@dataclass
class Named(Event):
    """A connection joined the chat under ``name``."""

    kind: ClassVar[str] = "named"
    name: str = ""

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return f"joined the chat as {self.name!r}"


@dataclass
class Data(Event):
    """One recv() (``direction`` "in") or send ("out") of ``nbytes`` carrying ``lines`` lines (verbosity 2)."""

    kind: ClassVar[str] = "data"
    level: ClassVar[int] = 2
    direction: str = "in"  # "in": recv() returned it, "out": handed to send()
    nbytes: int = 0
    lines: int = 0

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        verb = "recv() returned" if self.direction == "in" else "sent"
        return f"{verb} {_count(self.nbytes, 'byte')} ({_count(self.lines, 'line')})"


@dataclass
class Connecting(Event):
    """The client calls connect(): the kernel sends the SYN."""

    kind: ClassVar[str] = "connecting"
    server: Address = ("", 0)

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return f"connecting to {fmt_addr(self.server)}: connect() sends a SYN and waits for the SYN-ACK"


@dataclass
class Connected(Event):
    """connect() returned: the local address (the ephemeral port) and how long it took."""

    kind: ClassVar[str] = "connected"
    local: Address = ("", 0)
    server: Address = ("", 0)
    connect_ms: float = 0.0

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return (f"connected {fmt_addr(self.local)} -> {fmt_addr(self.server)}: your OS chose ephemeral port "
                f"{self.local[1]}; connect() took {self.connect_ms:.2f} ms, about one round trip: it returns when "
                "the SYN-ACK arrives, and the kernel sends the handshake's last ACK right after (RFC 9293, 3.5)")


@dataclass
class Closed(Event):
    """A connection ended: how (a key of ``ENDINGS``), its counters, and TCP_INFO when the kernel had it."""

    kind: ClassVar[str] = "closed"
    how: str = "fin"  # a key of ENDINGS
    detail: str = ""
    name: str | None = None
    peer: Address = ("", 0)
    bytes_in: int = 0
    bytes_out: int = 0
    lines_in: int = 0
    lines_out: int = 0
    duration: float = 0.0
    tcp_info: dict | None = None

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        ending = ENDINGS.get(self.how, self.how)
        if self.detail:
            ending += f" ({self.detail})"
        text = (f"closed: {ending}. In: {_count(self.lines_in, 'line')}, {_count(self.bytes_in, 'byte')}; "
                f"out: {_count(self.lines_out, 'line')}, {_count(self.bytes_out, 'byte')}; "
                f"open {self.duration:.1f} s")
        if self.tcp_info:
            info = self.tcp_info
            text += (f". TCP_INFO: state {info['state']}, rtt {info['rtt_ms']:.2f} ms, "
                     f"{info['total_retrans']} retransmissions")
        return text


@dataclass
class Stopped(Event):
    """The server stopped; ``reason`` says why."""

    kind: ClassVar[str] = "stopped"
    reason: str = ""

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return f"server stopped: {self.reason}"


@dataclass
class Note(Event):
    """A free-form remark that is part of a connection's story (TLS, flood...)."""

    kind: ClassVar[str] = "note"
    text: str = ""

    def sentence(self) -> str:
        """What happened, in one sentence (see ``Event.sentence``)."""
        return self.text


_STYLES = {
    "listening": "bold green", "accepted": "green", "connected": "green", "named": "cyan",
    "closed": "yellow", "refused": "red", "stopped": "bold yellow",
    "data": "dim", "connecting": "dim", "note": "magenta",
}


class EventLog:
    """Collects lifecycle events; renders, records and forwards them.

    ``verbosity``: 0 shows nothing, 1 the life of connections, 2 also every
    chunk of data.  Every event is kept (the last ``keep``) and passed to
    subscribers whatever the verbosity.  ``json_file``, if given, receives
    one JSON object per event.  Safe to use from many threads.
    """

    def __init__(self, verbosity: int = 1, console: Any = None, json_file: IO[str] | None = None, keep: int = 10000):
        self.verbosity = verbosity
        self._console = console
        self._json = json_file
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[Event], None]] = []
        self.events: deque[Event] = deque(maxlen=keep)

    @property
    def console(self):
        """The rich console events are printed on (made on first use: rich is imported only then)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, markup=False, emoji=False)
        return self._console

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event from now on (from the thread that emits it)."""
        with self._lock:
            self._subscribers.append(callback)

    def emit(self, event: Event) -> None:
        """Keep, write, show (by verbosity) and forward one event."""
        with self._lock:
            self.events.append(event)
            subscribers = list(self._subscribers)
            if self._json is not None:
                import json  # here: a server that writes no JSON lines does not load it

                self._json.write(json.dumps(event.to_dict(), default=str) + "\n")
                self._json.flush()
        if event.level <= self.verbosity:
            self.console.print(self.render(event))
        for callback in subscribers:
            callback(event)

    def of_kind(self, kind: str) -> list[Event]:
        """The kept events of one kind, oldest first."""
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    @staticmethod
    def parts(event: Event) -> list[tuple[str, str]]:
        """The pieces of the event's line, as (text, rich style): time, side, KIND, #conn, name, sentence.

        ``render`` joins them into one rich Text; a notebook lays the same
        pieces out as an HTML table (lab/notebook/html.py).  Every piece but
        the sentence is padded with the spaces that separate it (strip them
        to lay the pieces out otherwise); #conn and the name are there only
        when the event has them.
        """
        found = [(time.strftime("%H:%M:%S", time.localtime(event.time)), "dim"),
                 (f" {event.side:<6} ", "bold"),
                 # padded to the longest kind, and always followed by a space
                 (f"{event.kind.upper():<10} ", _STYLES.get(event.kind, ""))]
        if event.conn is not None:
            found.append((f"#{event.conn} ", "bold"))
        name = getattr(event, "name", None)
        if name and event.kind != "named":
            found.append((f"{name}: ", "cyan"))
        found.append((event.sentence(), ""))
        return found

    @staticmethod
    def render(event: Event):
        """The event as a rich Text line: time, side, connection, sentence."""
        from rich.text import Text

        # Text pieces never interpret markup: names and details are shown as is.
        return Text.assemble(*EventLog.parts(event))

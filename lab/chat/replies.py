"""Everything the server says in its own words, written once for TCP and UDP.

Each function returns one server line (docs/PROTOCOL.md: ``TIME KIND BODY``,
without the line end) for the moment ``now`` (seconds since the epoch).  The
room (``lab.chat.room``) uses them for its answers; the transports use them
for what happens below the room (a line too long, a flood, a full server, a
name that never came, plain text on the TLS port).  So a reply reads the same
over TCP and UDP, and changing a wording is a change in this file only.

(The answers to a malformed command, ``usage: /msg NAME TEXT`` and ``/x is
not a command``, are worded by ``wire.parse_command``, next to the syntax
they explain.)

>>> hello(0).endswith("--- hello: welcome to chat-lab! What is your name?")
True
>>> line_too_long(0, 5000, 1024)[9:]
'!!! line-too-long: your line had 5000 bytes, the limit is 1024; it was not sent'
>>> leave_reason("rst")
'reset: the connection was reset, RST'
"""

from __future__ import annotations

from lab.chat import wire

# --- the room's answers -------------------------------------------------------


def hello(now: float) -> str:
    """The first line a new connection receives: it asks for a name."""
    return wire.format_info(now, "hello", "welcome to chat-lab! What is your name?")


def welcome(now: float, name: str, online: list[str]) -> str:
    """The name was accepted: who you are and who is online."""
    return wire.format_info(now, "welcome", f"you are {name}; {len(online)} online: {', '.join(online)}. "
                                            "Type /help for the commands.")


def welcome_again(now: float, name: str) -> str:
    """A repeated join under the same name (UDP: our welcome was lost and the client retried)."""
    return wire.format_info(now, "welcome", f"you are {name} (again)")


def already_named(now: float, name: str) -> str:
    """A join under another name from a member that has one already (UDP)."""
    return wire.format_error(now, "usage", f"you are {name} already")


def history_start(now: float, count: int) -> str:
    """Opens the block of recent messages a new member receives."""
    return wire.format_info(now, "history", f"the last {count} message{'s' if count != 1 else ''} before you joined")


def history_end(now: float) -> str:
    """Closes the history block."""
    return wire.format_info(now, "history-end", "end of history")


def name_taken(now: float, taken_by: str) -> str:
    """The name (ignoring case) belongs to someone online; ``taken_by`` is how they spell it."""
    return wire.format_error(now, "name-taken", f"{taken_by!r} is online already (names ignore case); "
                                                "choose another")


def name_invalid(now: float, problem: str) -> str:
    """The name breaks the rules; ``problem`` is ``wire.check_name``'s explanation."""
    return wire.format_error(now, "name-invalid", problem)


def no_such_user(now: float, name: str) -> str:
    """``/msg NAME`` to a name that is not online."""
    return wire.format_error(now, "no-such-user", f"nobody called {name!r} is online")


def online(now: float, names: list[str]) -> str:
    """The answer to ``/list``."""
    return wire.format_info(now, "list", f"{len(names)} online: {', '.join(names)}")


def help_lines(now: float) -> list[str]:
    """The answer to ``/help``: one line per command, then what plain text does."""
    lines = [wire.format_info(now, "help", f"{usage:<16} {meaning}") for usage, meaning in wire.COMMANDS_HELP]
    lines.append(wire.format_info(now, "help", "anything else you type is sent to everyone"))
    return lines


def bye(now: float, reason: str = "") -> str:
    """The answer to ``/quit``, just before the server closes the connection."""
    return wire.format_info(now, "bye", "goodbye" + (f" ({reason})" if reason else ""))


def bot(now: float) -> str:
    """The answer to ``/bot``: what being marked as a bot means."""
    return wire.format_info(now, "bot", "you are marked as a bot: your messages still reach everyone online, "
                                        "but newcomers do not get them in their history")


def shutdown(now: float, reason: str = "the server is stopping") -> str:
    """Told to every member when the server stops; the connection closes next."""
    return wire.format_info(now, "shutdown", f"{reason}; goodbye")


# --- what the transports report ------------------------------------------------


def line_too_long(now: float, length: int, limit: int) -> str:
    """A line over the limit ended; it was discarded and the session goes on."""
    return wire.format_error(now, "line-too-long", f"your line had {length} bytes, the limit is {limit}; "
                                                   "it was not sent")


def no_line_end(now: float, limit: int) -> str:
    """``limit`` bytes arrived without any line end; the server closes the connection."""
    return wire.format_error(now, "line-too-long", f"{limit} bytes without a line end; closing")


def too_big(now: float, limit: int) -> str:
    """A UDP datagram over the size limit; it was discarded."""
    return wire.format_error(now, "too-big", f"a datagram carries at most {limit} bytes; this one was discarded")


def flood_slowed(now: float, rate: float) -> str:
    """Over the rate limit on TCP: the server reads more slowly, flow control pushes back, nothing is lost."""
    return wire.format_error(now, "flood", f"you send more than {rate:g} lines/s; "
                                           "the server now reads your lines more slowly")


def flood_discarded(now: float, rate: float) -> str:
    """Over the rate limit on UDP: no flow control to push back with, so the excess is discarded."""
    return wire.format_error(now, "flood", f"you send more than {rate:g} lines/s; "
                                           "over the limit they are discarded (UDP has no flow control)")


def name_timeout(now: float, seconds: float) -> str:
    """No name arrived in time; the server closes the connection."""
    return wire.format_error(now, "timeout", f"you did not choose a name within {seconds:g} s; closing")


def server_full_reason(max_clients: int) -> str:
    """Why a new client was turned away (also the server's log)."""
    return f"the server has its maximum of {max_clients} clients"


def server_full(now: float, max_clients: int) -> str:
    """The server has its maximum number of clients; the connection closes."""
    return wire.format_error(now, "server-full", f"{server_full_reason(max_clients)}; try again later")


def tls_required(now: float) -> str:
    """Plain text arrived on the TLS port (``nc``, or a client without --tls); sent in plain text."""
    return wire.format_error(now, "tls-required", "this port speaks TLS; connect with `chatlab client --tls`")


UDP_JOIN_HINTS = (
    "this is a chat-lab UDP server. To join, send `J - NAME` padded with dots to 64 bytes; it answers "
    "`C COOKIE`; then send `J COOKIE NAME` (padded too). docs/UDP.md has the rest",
    "to join, send `J - NAME` padded with dots to 64 bytes, then again with the cookie it answers",
    "to join: J - NAME padded to 64 bytes",
    "type 64+ characters",
)
"""The hints an unknown UDP address gets for a datagram that is not a join
(someone typing in ``nc -u``), longest first.  The server sends the longest
that is no bigger than what arrived (the anti-amplification rule), as
``hint: TEXT`` (lab/udp/datagrams.py)."""


# --- why someone left: "KEYWORD: detail", the keyword first (docs/PROTOCOL.md) ---

REASON_CLOSED = "closed: the client closed the connection, FIN"
REASON_RESET = "reset: the connection was reset, RST"
REASON_SHUTDOWN = "shutdown: the server is stopping"


def reason_quit(text: str = "") -> str:
    """The member sent ``/quit [TEXT]``."""
    return f"quit: {text}" if text else "quit"


def reason_timeout(detail: str) -> str:
    """The peer stopped answering (TCP keepalive, or no UDP datagram for too long)."""
    return f"timeout: {detail}"


def reason_dropped(detail: str) -> str:
    """The server closed the connection (send queue exceeded, no line end, ...)."""
    return f"dropped: {detail}"


def leave_reason(how: str, detail: str = "") -> str:
    """The REASON of ``*** NAME left (REASON)`` for how a connection ended.

    ``how`` is a key of ``lab.lifecycle.ENDINGS`` (fin, rst, quit, timeout,
    dropped, shutdown, error); ``detail`` says more where there is more.

    >>> leave_reason("timeout", "no answer to TCP keepalive probes")
    'timeout: no answer to TCP keepalive probes'
    """
    if how == "fin":
        return REASON_CLOSED
    if how == "rst":
        return REASON_RESET
    if how == "quit":
        return detail or reason_quit()
    if how == "timeout":
        return reason_timeout(detail)
    if how == "dropped":
        return reason_dropped(detail)
    if how == "shutdown":
        return REASON_SHUTDOWN
    return f"error: {detail}" if detail else "error"

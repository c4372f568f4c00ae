"""The chat room: who is in it, what they said, who receives what.

No sockets and no threads here: the room takes events ("this member sent
this line", "this member is gone") and answers with *actions* ("deliver
these server lines to these members", "close this member").  The lines are
text (``wire.encode_lines`` makes the bytes): the TCP server encodes them for
its byte stream, the UDP core puts each one in its own datagram.  Members are
opaque handles chosen by the caller (the TCP server uses its connection
objects, the UDP core the addresses it has verified).  Every answer's wording
comes from ``lab.chat.replies``.

The room is not thread-safe by itself: a threaded caller holds one lock
around each call.  Every call is short and does no I/O, so that lock is
never held across a send.

Members are compared by identity (``is``), so a caller passes the same
object every time (the UDP core its stored address tuple, not the new one
``recvfrom`` returns):

>>> room = Room(clock=lambda: 0.0)
>>> a, b = object(), object()   # any hashable objects: the TCP server uses its connections
>>> room.join(a, "alice").accepted and room.join(b, "bob").accepted
True
>>> [deliver] = room.receive(a, "hello")
>>> deliver.recipients == (b,), deliver.lines[0][9:], deliver.sender is a
(True, '<alice> hello', True)
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable, Union

from lab.chat import replies, wire
from lab.chat.limits import HISTORY_SIZE


@dataclass(frozen=True)
class Deliver:
    """Send ``lines`` (server lines, no line ends) to each recipient, in order.

    The recipients are ``audience`` without ``excluded`` (if set).  A line
    for everyone, or everyone but one, has the room's own ``members`` tuple
    as its audience, so a caller that keeps its own list of everyone (the
    TCP server's fanout) can tell, with ``is``, that it needs no list of
    recipients, and the room builds none: a 999-member tuple per chat line
    would be a Python loop over the room for every message.  ``recipients``
    builds it for the callers that want it.

    ``sender`` is the member whose chat message the lines carry (a public
    or private message), None for the server's own lines; the UDP core
    uses it to number the message with the sender's own sequence number.
    """

    audience: tuple[Hashable, ...]
    lines: tuple[str, ...]
    sender: Hashable | None = None
    excluded: Hashable | None = None

    @property
    def recipients(self) -> tuple[Hashable, ...]:
        """Who receives the lines, in the room's order."""
        if self.excluded is None:
            return self.audience
        return tuple(member for member in self.audience if member is not self.excluded)


@dataclass(frozen=True)
class Close:
    """Close this member's connection after what was delivered before."""

    member: Hashable
    reason: str


Action = Union[Deliver, Close]


@dataclass(frozen=True)
class JoinResult:
    """The answer to a join: accepted or not, the name asked for, and the actions to carry out."""

    accepted: bool
    name: str
    actions: list[Action]


class Room:
    """One chat room: members by name, recent history, routing of lines.

    ``members`` is rebuilt as a new tuple on every join and leave (copy on
    write), so a caller can read it without a lock and get a consistent
    snapshot: a broadcast goes to exactly the members present when the
    message was handled.  ``history`` holds the last public messages (server
    lines), except those of members marked with ``/bot``.
    """

    def __init__(self, history_size: int = HISTORY_SIZE, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._names: dict[Hashable, str] = {}  # member -> name
        self._by_key: dict[str, Hashable] = {}  # casefolded name -> member
        self._bots: set[Hashable] = set()  # members whose messages stay out of history
        self._sorted_names: list[str] = []  # names online, kept sorted ignoring case (no sort per join)
        self.members: tuple[Hashable, ...] = ()
        self.history: deque[str] = deque(maxlen=history_size)

    # -- questions -----------------------------------------------------------

    def name_of(self, member: Hashable) -> str | None:
        """The member's name, or None before it has one."""
        return self._names.get(member)

    def names(self) -> list[str]:
        """Names online, sorted ignoring case."""
        return list(self._sorted_names)

    def is_bot(self, member: Hashable) -> bool:
        """True once the member sent ``/bot``."""
        return member in self._bots

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, member: Hashable) -> bool:
        return member in self._names

    # -- events ----------------------------------------------------------------

    def hello(self, member: Hashable) -> list[Action]:
        """What a new connection receives before it has a name."""
        return self._reply(member, replies.hello(self.clock()))

    def join(self, member: Hashable, requested: str) -> JoinResult:
        """A connection asks to join under ``requested``.

        Refused (with the reason, and the connection may try again) when
        the name breaks the rules or someone online has it, ignoring case.
        Accepted: the member receives the welcome and the recent history in
        one delivery, and everyone else is told.
        """
        now = self.clock()
        problem = wire.check_name(requested)
        if problem is not None:
            return JoinResult(False, requested, self._reply(member, replies.name_invalid(now, problem)))
        holder = self._by_key.get(wire.name_key(requested))
        if holder is not None:
            refusal = replies.name_taken(now, self._names[holder])
            return JoinResult(False, requested, self._reply(member, refusal))

        others = self.members
        self._names[member] = requested
        self._by_key[wire.name_key(requested)] = member
        bisect.insort(self._sorted_names, requested, key=wire.name_key)
        self.members = others + (member,)

        lines = [replies.welcome(now, requested, self.names())]
        if self.history:
            lines.append(replies.history_start(now, len(self.history)))
            lines.extend(self.history)
            lines.append(replies.history_end(now))
        actions: list[Action] = [Deliver((member,), tuple(lines))]
        if others:
            actions.append(Deliver(self.members, (wire.format_joined(now, requested),), excluded=member))
        return JoinResult(True, requested, actions)

    def receive(self, member: Hashable, text: str) -> list[Action]:
        """A member sent a clean, non-empty line; route it."""
        name = self._names.get(member)
        if name is None:
            return []
        now = self.clock()
        command = wire.parse_command(text)
        if isinstance(command, wire.Say):
            line = wire.format_public(now, name, command.text)
            if member not in self._bots:
                self.history.append(line)
            if len(self.members) < 2:
                return []
            return [Deliver(self.members, (line,), sender=member, excluded=member)]
        if isinstance(command, wire.PrivateMessage):
            target = self._by_key.get(wire.name_key(command.to))
            if target is None:
                return self._reply(member, replies.no_such_user(now, command.to))
            return [
                Deliver((target,), (wire.format_private(now, name, command.text),), sender=member),
                Deliver((member,), (wire.format_private_echo(now, self._names[target], command.text),)),
            ]
        if isinstance(command, wire.ListUsers):
            return self._reply(member, replies.online(now, self.names()))
        if isinstance(command, wire.Help):
            return [Deliver((member,), tuple(replies.help_lines(now)))]
        if isinstance(command, wire.Bot):
            self._bots.add(member)
            return self._reply(member, replies.bot(now))
        if isinstance(command, wire.Quit):
            return self._reply(member, replies.bye(now, command.reason)) + [Close(member, replies.reason_quit(command.reason))]
        assert isinstance(command, wire.BadCommand)
        return self._reply(member, wire.format_error(now, command.code, command.message))

    def leave(self, member: Hashable, reason: str) -> list[Action]:
        """A member is gone, for ``reason`` (docs/PROTOCOL.md "Why someone left").

        Calling it again for the same member does nothing, so each member
        is announced as leaving exactly once however many ways its
        connection failed at the same time.
        """
        name = self._names.pop(member, None)
        if name is None:
            return []
        del self._by_key[wire.name_key(name)]
        del self._sorted_names[bisect.bisect_left(self._sorted_names, wire.name_key(name), key=wire.name_key)]
        self._bots.discard(member)
        self.members = tuple(m for m in self.members if m is not member)
        if not self.members:
            return []
        return [Deliver(self.members, (wire.format_left(self.clock(), name, reason),))]

    def shutdown(self, reason: str = "the server is stopping") -> list[Action]:
        """The server is stopping: tell every member (the connections close next)."""
        if not self.members:
            return []
        return [Deliver(self.members, (replies.shutdown(self.clock(), reason),))]

    def _reply(self, member: Hashable, line: str) -> list[Action]:
        return [Deliver((member,), (line,))]

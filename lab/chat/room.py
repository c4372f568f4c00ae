"""The chat room: who is in it, what they said, who receives what.

No sockets and no threads here: the room takes events ("this member sent
this line", "this member is gone") and answers with *actions* ("deliver
these bytes to these members", "close this member").  The TCP server and
the UDP server carry the actions out over their own sockets; tests check
them directly.  Members are opaque handles chosen by the caller (the TCP
server uses its connection objects, the UDP server its address records).

The room is not thread-safe by itself: a threaded caller holds one lock
around each call.  Every call is short and does no I/O, so that lock is
never held across a send.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable, Union

from lab.chat import wire as p


@dataclass(frozen=True)
class Deliver:
    """Send ``data`` (one or more encoded server lines) to each recipient."""

    recipients: tuple[Hashable, ...]
    data: bytes


@dataclass(frozen=True)
class Close:
    """Close this member's connection after what was delivered before."""

    member: Hashable
    reason: str


Action = Union[Deliver, Close]


@dataclass(frozen=True)
class JoinResult:
    accepted: bool
    name: str
    actions: list[Action]


class Room:
    """One chat room: members by name, recent history, routing of lines.

    ``members`` is rebuilt as a new tuple on every join and leave (copy on
    write), so a caller can read it without a lock and get a consistent
    snapshot: a broadcast goes to exactly the members present when the
    message was handled.
    """

    def __init__(self, history_size: int = p.HISTORY_SIZE, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._names: dict[Hashable, str] = {}  # member -> name
        self._by_key: dict[str, Hashable] = {}  # casefolded name -> member
        self.members: tuple[Hashable, ...] = ()
        self.history: deque[bytes] = deque(maxlen=history_size)

    # -- questions -----------------------------------------------------------

    def name_of(self, member: Hashable) -> str | None:
        return self._names.get(member)

    def names(self) -> list[str]:
        """Names online, sorted ignoring case."""
        return sorted(self._names.values(), key=p.name_key)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, member: Hashable) -> bool:
        return member in self._names

    # -- events ----------------------------------------------------------------

    def hello(self, member: Hashable) -> list[Action]:
        """What a new connection receives before it has a name."""
        now = self.clock()
        return [Deliver((member,), p.encode(p.format_info(now, "hello", "welcome to chat-lab! What is your name?")))]

    def join(self, member: Hashable, requested: str) -> JoinResult:
        """A connection asks to join under ``requested``.

        Refused (with the reason, and the connection may try again) when
        the name breaks the rules or someone online has it, ignoring case.
        Accepted: the member receives the welcome and the recent history,
        and everyone else is told.
        """
        now = self.clock()
        problem = p.check_name(requested)
        if problem is None and p.name_key(requested) in self._by_key:
            taken_by = self._names[self._by_key[p.name_key(requested)]]
            code, problem = "name-taken", f"{taken_by!r} is online already (names ignore case); choose another"
        elif problem is not None:
            code = "name-invalid"
        if problem is not None:
            refusal = p.encode(p.format_error(now, code, problem))
            return JoinResult(False, requested, [Deliver((member,), refusal)])

        others = self.members
        self._names[member] = requested
        self._by_key[p.name_key(requested)] = member
        self.members = others + (member,)

        online = self.names()
        welcome = [p.format_info(now, "welcome", f"you are {requested}; {len(online)} online: {', '.join(online)}. "
                                 "Type /help for the commands.")]
        data = p.encode("\r\n".join(welcome))
        if self.history:
            count = len(self.history)
            data += p.encode(p.format_info(now, "history", f"the last {count} message{'s' if count != 1 else ''} before you joined"))
            data += b"".join(self.history)
            data += p.encode(p.format_info(now, "history-end", "end of history"))
        actions: list[Action] = [Deliver((member,), data)]
        if others:
            actions.append(Deliver(others, p.encode(p.format_joined(now, requested))))
        return JoinResult(True, requested, actions)

    def receive(self, member: Hashable, text: str) -> list[Action]:
        """A member sent a clean, non-empty line; route it."""
        name = self._names.get(member)
        if name is None:
            return []
        now = self.clock()
        command = p.parse_command(text)
        if isinstance(command, p.Say):
            line = p.encode(p.format_public(now, name, command.text))
            self.history.append(line)
            others = tuple(m for m in self.members if m is not member)
            return [Deliver(others, line)] if others else []
        if isinstance(command, p.PrivateMessage):
            target = self._by_key.get(p.name_key(command.to))
            if target is None:
                return self._reply(member, p.format_error(now, "no-such-user", f"nobody called {command.to!r} is online"))
            target_name = self._names[target]
            return [
                Deliver((target,), p.encode(p.format_private(now, name, command.text))),
                Deliver((member,), p.encode(p.format_private_echo(now, target_name, command.text))),
            ]
        if isinstance(command, p.ListUsers):
            online = self.names()
            return self._reply(member, p.format_info(now, "list", f"{len(online)} online: {', '.join(online)}"))
        if isinstance(command, p.Help):
            lines = [p.format_info(now, "help", f"{usage:<16} {meaning}") for usage, meaning in p.COMMANDS_HELP]
            lines.append(p.format_info(now, "help", "anything else you type is sent to everyone"))
            return [Deliver((member,), p.encode("\r\n".join(lines)))]
        if isinstance(command, p.Quit):
            bye = p.format_info(now, "bye", "goodbye" + (f" ({command.reason})" if command.reason else ""))
            return self._reply(member, bye) + [Close(member, p.reason_quit(command.reason))]
        assert isinstance(command, p.BadCommand)
        return self._reply(member, p.format_error(now, command.code, command.message))

    def leave(self, member: Hashable, reason: str) -> list[Action]:
        """A member is gone, for ``reason`` (docs/PROTOCOL.md "Why someone left").

        Calling it again for the same member does nothing, so each member
        is announced as leaving exactly once however many ways its
        connection failed at the same time.
        """
        name = self._names.pop(member, None)
        if name is None:
            return []
        del self._by_key[p.name_key(name)]
        self.members = tuple(m for m in self.members if m is not member)
        if not self.members:
            return []
        return [Deliver(self.members, p.encode(p.format_left(self.clock(), name, reason)))]

    def notice_all(self, code: str, text: str) -> list[Action]:
        """An information line to every member (e.g. the server is stopping)."""
        if not self.members:
            return []
        return [Deliver(self.members, p.encode(p.format_info(self.clock(), code, text)))]

    def _reply(self, member: Hashable, line: str) -> list[Action]:
        return [Deliver((member,), p.encode(line))]

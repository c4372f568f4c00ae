"""Exercise 7: chat extensions -- timestamps, private messages, the user list, history.

What you learn
--------------
Once bytes travel and lines are framed, a chat is *rules*: who receives
which line.  Those rules need no socket at all, so we write them as plain
code ("sans-I/O", like the h11 HTTP library): a ``Room`` takes "NAME sent
TEXT" and returns the deliveries ``(recipient, line)``.  The server (your
exercise 3, or lab/tcp/server.py) only moves bytes; this is where the decisions
are, and they are tested without a network.

The lines follow docs/PROTOCOL.md exactly (without the CRLF, which the
server adds): ``TIME KIND BODY`` with TIME as ``HH:MM:SS``.

==================  ============================================  ==========
when                line                                          to whom
==================  ============================================  ==========
alice joins         ``T --- welcome: you are alice; 2 online: alice, bob``  alice
                    ``T --- history: the last N messages before you joined``  alice (if any)
                    the last public lines, unchanged (old TIME)   alice
                    ``T --- history-end: end of history``         alice
                    ``T *** alice joined``                        the others
alice: ``hi``       ``T <alice> hi`` (kept in the history)        the others
alice: ``//x``      ``T <alice> /x`` (a message starting with /)  the others
``/msg bob psst``   ``T *alice* psst``                            bob
                    ``T ->bob psst``                              alice
``/msg zed hey``    ``T !!! no-such-user: nobody called "zed" is online``  alice
``/msg bob``        ``T !!! usage: /msg NAME TEXT``               alice
``/list``           ``T --- list: 2 online: alice, bob``          alice
``/dance``          ``T !!! unknown-command: /dance (try /help)``  alice
alice leaves        ``T *** alice left (REASON)``                 the others
==================  ============================================  ==========

Names in ``welcome`` and ``list`` are sorted ignoring case.  ``/msg`` finds
the recipient ignoring case (``/msg BOB x`` reaches bob) but writes the
name as the recipient chose it.  The history keeps the last
``history_size`` public lines.

What to write
-------------
``timestamp`` and the ``Room`` methods ``join``, ``handle`` and ``leave``.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

Delivery = tuple[str, str]  # (recipient name, line without CRLF)


def timestamp(when: float) -> str:
    """WHEN (seconds since the epoch, as ``time.time()`` gives) as local ``HH:MM:SS``.

    >>> timestamp(0.0)   # in a UTC time zone
    '00:00:00'
    """
    # TODO: write this part (read the docstring above), then delete the raise below.
    raise NotImplementedError("write timestamp() in exercises/ex07_extensions.py")


class Room:
    """The rules of the chat, without sockets."""

    def __init__(self, clock: Callable[[], float] = time.time, history_size: int = 20) -> None:
        self.clock = clock  # called once per line produced, for its TIME
        self.members: list[str] = []  # names online, in the order they joined
        self.history: deque[str] = deque(maxlen=history_size)  # the last public lines

    def line(self, kind: str, body: str) -> str:
        """One server line stamped with the current time: ``HH:MM:SS KIND BODY``."""
        return f"{timestamp(self.clock())} {kind} {body}"

    def online(self) -> list[str]:
        """The names online, sorted ignoring case."""
        return sorted(self.members, key=str.lower)

    def find(self, name: str) -> str | None:
        """The member called NAME, ignoring case, or None."""
        for member in self.members:
            if member.lower() == name.lower():
                return member
        return None

    def join(self, name: str) -> list[Delivery]:
        """NAME joins (the name is already checked): welcome, history, announcement.

        Add NAME to ``members`` first (so the welcome counts it), then return,
        in this order: the welcome to NAME; if the history is not empty, the
        ``history`` line, each history line, the ``history-end`` line, all to
        NAME; ``*** NAME joined`` to each other member.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write join() in exercises/ex07_extensions.py")

    def handle(self, name: str, text: str) -> list[Delivery]:
        """Member NAME sent the line TEXT: return the deliveries (see the table above).

        A public line goes to every member but NAME and is appended to
        ``history``.  Private messages, ``/list`` and errors are not kept in
        the history.
        """
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write handle() in exercises/ex07_extensions.py")

    def leave(self, name: str, reason: str) -> list[Delivery]:
        """NAME left for REASON (e.g. ``"quit"``, ``"closed"``): remove it, tell the others."""
        # TODO: write this part (read the docstring above), then delete the raise below.
        raise NotImplementedError("write leave() in exercises/ex07_extensions.py")

"""What the UDP chat server decides (sans-I/O): ``UdpChatCore`` takes
datagrams in and gives datagrams out - it keeps the members (``Member``, known
by address), checks cookies (anti-amplification), numbers the lines it sends,
drops duplicates, enforces the flood limit and expires silent members
(``IDLE_TIMEOUT``), while the shared ``Room`` does names, history and routing
and ``lab.chat.replies`` words every reply.  No sockets, no threads: the
caller passes the time and sends what comes back.

>>> from lab.udp.datagrams import encode_join
>>> core = UdpChatCore(secret=b"k" * 32, clock=lambda: 0.0)
>>> [(to, challenge)] = core.receive(("10.0.0.1", 4000), encode_join("alice"))
>>> challenge[:2]
b'C '
>>> out = core.receive(("10.0.0.1", 4000), encode_join("alice", challenge[2:].strip().decode()))
>>> core.room.names()
['alice']
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from lab.chat import limits, replies
from lab.chat import wire as p
from lab.chat.ratelimit import TokenBucket
from lab.chat.room import Action, Close, Deliver, Room
from lab.net.addresses import Address
from lab.udp.datagrams import (MAX_DATAGRAM, Join, Keepalive, Message, decode_client, encode_challenge, encode_hint,
                               encode_server_line)
from lab.udp.sequence import SequenceTracker

IDLE_TIMEOUT = limits.UDP_IDLE_TIMEOUT_S
"""Seconds without any datagram from a member before it is dropped ("timeout")."""

COOKIE_LIFETIME = limits.COOKIE_LIFETIME_S
"""A cookie is valid in the minute it was made and the next one."""

_COOKIE_CHARS = 24  # hex characters of HMAC-SHA256 kept in a cookie


# --- the server's decisions (sans-I/O) ----------------------------------------

Outgoing = list[tuple[Address, bytes]]
"""What to send: (address, datagram) pairs, in order."""


@dataclass
class Member:
    """One verified address: a member of the room once it has a name."""

    address: Address
    last_seen: float
    name: str | None = None
    upstream: SequenceTracker = field(default_factory=SequenceTracker)
    sent: int = 0  # server lines sent to this member (their SEQ)
    bucket: TokenBucket | None = None  # the flood limit, as on TCP
    flooding: bool = False  # told about the limit in this episode already


class UdpChatCore:
    """Everything the UDP server decides, with no socket: datagrams in, datagrams out.

    ``receive(address, data, now)`` and ``expire(now)`` return the list of
    ``(address, datagram)`` to send.  Members are keyed by address and use
    the shared ``Room`` for names, history and routing.
    """

    def __init__(self, room: Room | None = None, secret: bytes | None = None,
                 idle_timeout: float = IDLE_TIMEOUT, clock: Callable[[], float] = time.monotonic,
                 rate: float = limits.RATE_LINES_PER_S, burst: int = limits.BURST_LINES,
                 max_members: int = limits.MAX_CLIENTS):
        self.room = room if room is not None else Room()
        self.secret = secret if secret is not None else os.urandom(32)
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self.max_members = max_members
        self.members: dict[Address, Member] = {}
        self.stats = {"datagrams": 0, "malformed": 0, "too_big": 0, "challenges": 0, "bad_cookie": 0,
                      "duplicates_dropped": 0, "unverified_bytes_in": 0, "unverified_bytes_out": 0,
                      "flood_dropped": 0, "refused_full": 0, "hints": 0}
        self.events: list[tuple[str, Address, str]] = []  # (joined|left, address, name/reason) for logs

    # -- cookies --------------------------------------------------------------
    def cookie_for(self, address: Address, now: float | None = None) -> str:
        """The cookie an address must echo: HMAC of the address and the minute."""
        bucket = int((self.clock() if now is None else now) // COOKIE_LIFETIME)
        return self._cookie(address, bucket)

    def _cookie(self, address: Address, bucket: int) -> str:
        msg = f"{address[0]}|{address[1]}|{bucket}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:_COOKIE_CHARS]

    def _cookie_ok(self, address: Address, cookie: str, now: float) -> bool:
        bucket = int(now // COOKIE_LIFETIME)
        return any(hmac.compare_digest(cookie, self._cookie(address, b)) for b in (bucket, bucket - 1))

    # -- events ---------------------------------------------------------------
    def receive(self, address: Address, data: bytes, now: float | None = None) -> Outgoing:
        """One datagram arrived from ``address``."""
        now = self.clock() if now is None else now
        self.stats["datagrams"] += 1
        member = self.members.get(address)
        if member is None:
            return self._from_unverified(address, data, now)
        member.last_seen = now
        if len(data) > MAX_DATAGRAM:
            self.stats["too_big"] += 1
            return self._to(member, [replies.too_big(self.room.clock(), MAX_DATAGRAM)])
        what = decode_client(data)
        if what is None:
            self.stats["malformed"] += 1
            return []
        if isinstance(what, Keepalive):
            return []
        if isinstance(what, Join):
            return self._join(member, what.name)
        if member.name is None:
            return []  # lines before a name: the join is still on its way
        if member.bucket is not None and not member.bucket.try_take(now):
            # Over the flood limit.  TCP would push back (the server stops
            # reading and flow control slows the sender); UDP has no flow
            # control, so the only defence is to discard.  The sender is told
            # once per episode, and its receivers count the gap as lost.
            self.stats["flood_dropped"] += 1
            if member.flooding:
                return []
            member.flooding = True
            return self._to(member, [replies.flood_discarded(self.room.clock(), self.rate)])
        member.flooding = False
        kind = member.upstream.add(what.seq)
        if kind == "duplicate":
            # The network (or a retrying client) delivered it twice; relaying
            # it twice would show the message twice.
            self.stats["duplicates_dropped"] += 1
            return []
        out: Outgoing = []
        # One datagram is one line: the line decoder only cleans it and checks
        # its length (a stray line end inside would make a second line).
        for event in p.LineDecoder().feed(what.payload + b"\n"):
            if isinstance(event, p.Line):
                # member.address, not address: the room compares members by
                # identity, and recvfrom returns a new tuple every time.
                out += self._apply(self.room.receive(member.address, event.text), seq=what.seq)
            elif isinstance(event, p.LineTooLong):
                out += self._to(member, [replies.line_too_long(self.room.clock(), event.length, event.limit)])
        return out

    def _from_unverified(self, address: Address, data: bytes, now: float) -> Outgoing:
        """Anti-amplification: answer with at most as many bytes as arrived."""
        self.stats["unverified_bytes_in"] += len(data)
        what = decode_client(data) if len(data) <= MAX_DATAGRAM else None
        if isinstance(what, Join) and what.cookie and self._cookie_ok(address, what.cookie, now):
            if len(self.members) >= self.max_members:
                self.stats["refused_full"] += 1
                return [(address, encode_server_line(0, None, replies.server_full(self.room.clock(),
                                                                                  self.max_members)))]
            # The address proved it receives what we send to it: a member now.
            member = Member(address, now, bucket=TokenBucket(self.rate, self.burst, now))
            self.members[address] = member
            return self._join(member, what.name)
        if isinstance(what, Join) and what.cookie:
            self.stats["bad_cookie"] += 1
        if isinstance(what, (Join, Message)):
            # A join without (a valid) cookie, or a line from an address we do
            # not know (the server restarted, or it expired): ask for a cookie.
            reply = encode_challenge(self.cookie_for(address, now))
            if len(reply) <= len(data):
                self.stats["challenges"] += 1
                self.stats["unverified_bytes_out"] += len(reply)
                return [(address, reply)]
        if isinstance(what, Keepalive):
            return []
        # A plain line (someone typing in `nc -u`), or a join too short for the
        # cookie: the longest hint on how to join that is no bigger than what came.
        hint = join_hint(len(data))
        if hint is None:
            return []
        self.stats["hints"] += 1
        self.stats["unverified_bytes_out"] += len(hint)
        return [(address, hint)]

    def _join(self, member: Member, name: str) -> Outgoing:
        if member.name is not None:
            # A repeated join (our welcome was lost and the client retried).
            if p.name_key(member.name) == p.name_key(name):
                return self._to(member, [replies.welcome_again(self.room.clock(), member.name)])
            return self._to(member, [replies.already_named(self.room.clock(), member.name)])
        result = self.room.join(member.address, name)
        if result.accepted:
            member.name = result.name
            self.events.append(("joined", member.address, result.name))
        return self._apply(result.actions)

    def expire(self, now: float | None = None) -> Outgoing:
        """Drop members silent for longer than ``idle_timeout`` (UDP has no FIN)."""
        now = self.clock() if now is None else now
        out: Outgoing = []
        for member in list(self.members.values()):
            if now - member.last_seen > self.idle_timeout:
                out += self._remove(member, replies.reason_timeout(f"no datagram for {self.idle_timeout:g} s"))
        return out

    def shutdown(self) -> Outgoing:
        """The server is stopping: tell everyone."""
        out = self._apply(self.room.shutdown())
        for member in list(self.members.values()):
            self.room.leave(member.address, replies.REASON_SHUTDOWN)
        self.members.clear()
        return out

    # -- helpers --------------------------------------------------------------
    def _remove(self, member: Member, reason: str) -> Outgoing:
        self.members.pop(member.address, None)
        if member.name is not None:
            self.events.append(("left", member.address, reason))
        return self._apply(self.room.leave(member.address, reason))

    def _to(self, member: Member, lines: Iterable[str], origin: int | None = None) -> Outgoing:
        out = []
        for line in lines:
            member.sent += 1
            out.append((member.address, encode_server_line(member.sent, origin, line)))
        return out

    def _apply(self, actions: list[Action], seq: int | None = None) -> Outgoing:
        """Carry out the room's actions: one datagram per server line.

        ``seq`` is the number of the datagram being handled: it becomes the
        ORIGIN of the chat messages it carries (the lines whose sender is
        the member who sent it).
        """
        out: Outgoing = []
        for action in actions:
            if isinstance(action, Deliver):
                origin = seq if action.sender is not None else None
                for address in action.recipients:
                    member = self.members.get(address)
                    if member is not None:
                        out += self._to(member, action.lines, origin)
            elif isinstance(action, Close):
                member = self.members.get(action.member)
                if member is not None:
                    out += self._remove(member, action.reason)
        return out


def join_hint(size: int) -> bytes | None:
    """The longest hint datagram on how to join that is at most ``size`` bytes, or None.

    The anti-amplification rule holds for hints too: an unverified address
    never gets more bytes than it sent, so a short line gets a short hint
    (or, under ``len(shortest hint)`` bytes, nothing).

    >>> join_hint(len(b"hello\\n")) is None
    True
    >>> join_hint(30)
    b'hint: type 64+ characters\\r\\n'
    """
    fitting = [hint for hint in (encode_hint(text) for text in replies.UDP_JOIN_HINTS) if len(hint) <= size]
    return max(fitting, key=len) if fitting else None

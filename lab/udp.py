"""The chat over UDP: same protocol and same room as TCP, no connection.

TCP gives the chat a *connection*: a handshake proves the client's address,
the byte stream arrives complete and in order, and FIN/RST say when someone
has gone.  UDP gives none of that, so this module adds the least the chat
needs, and each piece shows what TCP was doing for us (docs/UDP.md):

* **membership by address**: the server knows a member by the (IP, port) its
  datagrams come from; a *join* datagram carries the name;
* **address validation** (anti-amplification): before an address has echoed
  a cookie, the server never answers a datagram with more bytes than it
  carried, so a spoofed source address cannot turn the server into an
  amplifier against a victim;
* **idle expiry**: no FIN, so a member silent for ``IDLE_TIMEOUT`` seconds is
  gone ("timeout"); clients send a keepalive every ``KEEPALIVE_INTERVAL``;
* **sequence numbers**: every line a client sends and every line the server
  sends to one member is numbered, so receivers can count what was lost,
  duplicated or reordered (``SequenceTracker``) - TCP does this for you and
  also *repairs* it; here we can only count;
* **one datagram = one line**, at most ``MAX_DATAGRAM`` bytes (no stream to
  re-split, and no IP fragmentation).

Datagrams (UTF-8 text; fields separated by one space)::

    client -> server   J COOKIE NAME [PADDING]   join (COOKIE "-" the first time)
                       M SEQ LINE                a chat line or command, numbered 1, 2, 3...
                       K                         keepalive
    server -> client   C COOKIE                  "echo this cookie in your join"
                       L SEQ ORIGIN LINE         one server line (docs/PROTOCOL.md);
                                                 SEQ numbers the lines sent to you,
                                                 ORIGIN is the sender's SEQ for chat
                                                 messages ("<bob>", "*bob*"), else "-"

The parts that decide (``SequenceTracker``, ``UdpChatCore``,
``UdpClientCore``) do no I/O; ``UdpChatServer`` and ``run_udp_client`` own
the sockets and threads.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, TextIO

from lab import protocol as p
from lab.ratelimit import TokenBucket
from lab.room import Close, Deliver, Room

MAX_DATAGRAM = 1200
"""Largest UDP payload we send or accept, in bytes.

IPv6 guarantees that every link carries packets of 1280 bytes (RFC 8200);
1280 - 40 (IPv6 header) - 8 (UDP header) = 1232, and 1200 leaves room for
tunnels.  A datagram that fits is never fragmented by IP (a lost fragment
loses the whole datagram, and many firewalls drop fragments), on IPv4 or
IPv6.  QUIC and DNS use the same bound for the same reason."""

IDLE_TIMEOUT = 30.0
"""Seconds without any datagram from a member before it is dropped ("timeout")."""

KEEPALIVE_INTERVAL = 10.0
"""The client sends ``K`` when it has sent nothing for this long (3 per timeout)."""

JOIN_PADDING = 64
"""Clients pad the join to at least this many bytes, so the server's cookie
answer (26 bytes) fits under the anti-amplification rule (like QUIC, which
pads its first datagram to 1200)."""

COOKIE_LIFETIME = 60.0
"""A cookie is valid in the minute it was made and the next one."""

_COOKIE_CHARS = 24  # hex characters of HMAC-SHA256 kept in a cookie


# --- sequence accounting (sans-I/O) -------------------------------------------

class SequenceTracker:
    """Count lost, duplicated and reordered datagrams from one sender.

    Numbers start at 1 and grow by one per datagram.  ``add(seq)`` returns
    ``"new"`` (first time, in order), ``"late"`` (first time, but a higher
    number came before it: out of order, no longer counted as lost) or
    ``"duplicate"`` (seen before).  ``lost`` is how many numbers below the
    highest seen have not arrived (yet: a late one makes it smaller).
    Memory is bounded: gaps further than ``window`` below the highest number
    are counted as lost for good.
    """

    def __init__(self, window: int = 4096):
        self.window = window
        self.highest = 0
        self.received = 0  # distinct numbers seen
        self.duplicated = 0
        self.out_of_order = 0
        self._missing: set[int] = set()
        self._forgotten = 0  # gaps that left the window: lost for good
        self._seen_recent: set[int] = set()

    @property
    def lost(self) -> int:
        return len(self._missing) + self._forgotten

    def add(self, seq: int) -> str:
        """Account for datagram number ``seq``; say what it was."""
        if seq < 1:
            raise ValueError("sequence numbers start at 1")
        if seq > self.highest:
            gap_start = max(self.highest + 1, seq - self.window)
            self._forgotten += gap_start - (self.highest + 1)
            self._missing.update(range(gap_start, seq))
            self.highest = seq
            self.received += 1
            self._seen_recent.add(seq)
            self._trim()
            return "new"
        if seq in self._missing:
            self._missing.discard(seq)
            self._seen_recent.add(seq)
            self.received += 1
            self.out_of_order += 1
            return "late"
        # Not missing and not above: seen before (or so old we forgot it,
        # which a window of 4096 makes a duplicate in practice).
        self.duplicated += 1
        return "duplicate"

    def _trim(self) -> None:
        floor = self.highest - self.window
        if len(self._seen_recent) > 2 * self.window:
            self._seen_recent = {s for s in self._seen_recent if s > floor}
        if self._missing and min(self._missing) <= floor:
            old = {s for s in self._missing if s <= floor}
            self._missing -= old
            self._forgotten += len(old)

    def to_dict(self) -> dict:
        return {"received": self.received, "lost": self.lost, "duplicated": self.duplicated,
                "out_of_order": self.out_of_order, "highest": self.highest}


# --- datagram format (sans-I/O) -----------------------------------------------

@dataclass(frozen=True)
class Join:
    cookie: str | None
    name: str


@dataclass(frozen=True)
class Message:
    seq: int
    payload: bytes  # the raw line, decoded and cleaned by the receiver


@dataclass(frozen=True)
class Keepalive:
    pass


@dataclass(frozen=True)
class Challenge:
    cookie: str


@dataclass(frozen=True)
class ServerLineDatagram:
    seq: int
    origin: int | None
    line: str


def encode_join(name: str, cookie: str | None = None, pad_to: int = JOIN_PADDING) -> bytes:
    """A join datagram, padded with dots to ``pad_to`` bytes (see JOIN_PADDING)."""
    data = f"J {cookie or '-'} {name}".encode("utf-8")
    if len(data) < pad_to:
        data += b" " + b"." * (pad_to - len(data) - 1)
    return data


def encode_message(seq: int, line: str) -> bytes:
    """A numbered line; raises ValueError if it would not fit in MAX_DATAGRAM."""
    data = f"M {seq} ".encode("ascii") + line.encode("utf-8")
    if len(data) > MAX_DATAGRAM:
        raise ValueError(f"the line is {len(data)} bytes as a datagram; the limit is {MAX_DATAGRAM}")
    return data


KEEPALIVE = b"K"


def encode_challenge(cookie: str) -> bytes:
    return f"C {cookie}".encode("ascii")


def encode_server_line(seq: int, origin: int | None, line: str) -> bytes:
    """``L SEQ ORIGIN LINE``, the line cut (at a character boundary) to fit MAX_DATAGRAM."""
    head = f"L {seq} {origin if origin is not None else '-'} ".encode("ascii")
    body = line.rstrip("\r\n").encode("utf-8")
    room = MAX_DATAGRAM - len(head)
    if len(body) > room:
        body = body[: room - 3].decode("utf-8", errors="ignore").encode("utf-8") + b"..."
    return head + body


def decode_client(data: bytes) -> Join | Message | Keepalive | None:
    """What a client sent; None for anything that does not follow the format."""
    if data == KEEPALIVE:
        return Keepalive()
    kind, _, rest = data.partition(b" ")
    if kind == b"J":
        parts = rest.split(b" ")
        if len(parts) < 2 or not parts[0]:
            return None
        cookie = parts[0].decode("ascii", errors="replace")
        name = p.clean_text(parts[1].decode("utf-8", errors="replace"))
        return Join(None if cookie == "-" else cookie, name)
    if kind == b"M":
        seq, sep, payload = rest.partition(b" ")
        if not seq.isdigit() or not sep or int(seq) < 1:
            return None
        return Message(int(seq), payload)
    return None


def decode_server(data: bytes) -> Challenge | ServerLineDatagram | None:
    """What the server sent; None for anything that does not follow the format."""
    kind, _, rest = data.partition(b" ")
    if kind == b"C" and rest:
        return Challenge(rest.decode("ascii", errors="replace"))
    if kind == b"L":
        parts = rest.split(b" ", 2)
        if len(parts) == 3 and parts[0].isdigit() and (parts[1] == b"-" or parts[1].isdigit()):
            origin = None if parts[1] == b"-" else int(parts[1])
            return ServerLineDatagram(int(parts[0]), origin, parts[2].decode("utf-8", errors="replace"))
    return None


# --- the server's decisions (sans-I/O) ----------------------------------------

Address = tuple  # (host, port) as recvfrom returns it
Outgoing = list[tuple[Address, bytes]]


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
                 rate: float = 10.0, burst: int = 20, max_members: int = 1500):
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
                      "flood_dropped": 0, "refused_full": 0}
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
            return self._to(member, [p.format_error(self.room.clock(), "too-big",
                                                    f"a datagram carries at most {MAX_DATAGRAM} bytes; this one was discarded")])
        what = decode_client(data)
        if what is None:
            self.stats["malformed"] += 1
            return []
        if isinstance(what, Keepalive):
            return []
        if isinstance(what, Join):
            return self._join(member, what.name, now)
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
            return self._to(member, [p.format_error(self.room.clock(), "flood", (
                f"you send more than {self.rate:g} datagrams/s; over the limit they are discarded"))])
        member.flooding = False
        kind = member.upstream.add(what.seq)
        if kind == "duplicate":
            # The network (or a retrying client) delivered it twice; relaying
            # it twice would show the message twice.
            self.stats["duplicates_dropped"] += 1
            return []
        out: Outgoing = []
        decoder = p.LineDecoder()
        for event in decoder.feed(what.payload + b"\n"):
            if isinstance(event, p.Line):
                # member.address, not address: the room compares members by
                # identity, and recvfrom returns a new tuple every time.
                out += self._apply(self.room.receive(member.address, event.text), origin=(member.name, what.seq))
            elif isinstance(event, p.LineTooLong):
                out += self._to(member, [p.format_error(self.room.clock(), "line-too-long",
                                                        f"lines are at most {p.MAX_LINE_BYTES} bytes; yours was discarded")])
        return out

    def _from_unverified(self, address: Address, data: bytes, now: float) -> Outgoing:
        """Anti-amplification: answer with at most as many bytes as arrived."""
        self.stats["unverified_bytes_in"] += len(data)
        what = decode_client(data) if len(data) <= MAX_DATAGRAM else None
        if isinstance(what, Join) and what.cookie and self._cookie_ok(address, what.cookie, now):
            if len(self.members) >= self.max_members:
                self.stats["refused_full"] += 1
                line = p.format_error(self.room.clock(), "server-full",
                                      f"the server has its maximum of {self.max_members} members; try again later")
                return [(address, encode_server_line(0, None, line))]
            # The address proved it receives what we send to it: a member now.
            member = Member(address, now, bucket=TokenBucket(self.rate, self.burst, now))
            self.members[address] = member
            return self._join(member, what.name, now)
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
        return []

    def _join(self, member: Member, name: str, now: float) -> Outgoing:
        if member.name is not None:
            # A repeated join (our welcome was lost and the client retried).
            if p.name_key(member.name) == p.name_key(name):
                return self._to(member, [p.format_info(self.room.clock(), "welcome", f"you are {member.name} (again)")])
            return self._to(member, [p.format_error(self.room.clock(), "usage", f"you are {member.name} already")])
        result = self.room.join(member.address, name)
        if result.accepted:
            member.name = result.name
            self.events.append(("joined", member.address, result.name))
        return self._apply(result.actions)

    def expire(self, now: float | None = None) -> Outgoing:
        """Drop members silent for longer than ``idle_timeout`` (UDP has no FIN)."""
        now = self.clock() if now is None else now
        out: Outgoing = []
        for address, member in list(self.members.items()):
            if now - member.last_seen > self.idle_timeout:
                out += self._remove(member, p.reason_timeout(f"no datagram for {self.idle_timeout:g} s"))
        return out

    def shutdown(self) -> Outgoing:
        """The server is stopping: tell everyone."""
        out = self._apply(self.room.notice_all("shutdown", "the server is stopping"))
        for member in list(self.members.values()):
            self.room.leave(member.address, p.REASON_SHUTDOWN)
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

    def _apply(self, actions, origin: tuple[str, int] | None = None) -> Outgoing:
        """Carry out the room's actions: one datagram per server line."""
        out: Outgoing = []
        for action in actions:
            if isinstance(action, Deliver):
                lines = [l for l in action.data.decode("utf-8").split("\r\n") if l]
                for line in lines:
                    seq = None
                    if origin is not None:
                        parsed = p.parse_server_line(line)
                        if parsed and parsed.kind in ("public", "private") and parsed.name == origin[0]:
                            seq = origin[1]
                    for address in action.recipients:
                        member = self.members.get(address)
                        if member is not None:
                            out += self._to(member, [line], seq)
            elif isinstance(action, Close):
                member = self.members.get(action.member)
                if member is not None:
                    out += self._remove(member, action.reason)
        return out


# --- the client's decisions (sans-I/O) ----------------------------------------

class UdpClientCore:
    """What a UDP chat client decides, with no socket.

    ``join_datagram()`` is what to send (again, until ``joined``);
    ``receive(data)`` takes a datagram from the server and returns the
    server lines to show (and may set ``reply`` to a datagram to send at
    once); ``line(text)`` numbers a line to send.  ``downstream`` counts the
    server's lines to us; ``origins[name]`` counts chat messages per sender.
    """

    def __init__(self, name: str):
        self.name = name
        self.cookie: str | None = None
        self.joined = False
        self.refused: str | None = None  # the server's reason, when a name is refused
        self.seq = 0
        self.downstream = SequenceTracker()
        self.origins: dict[str, SequenceTracker] = {}
        self.reply: bytes | None = None

    def join_datagram(self) -> bytes:
        return encode_join(self.name, self.cookie)

    def rename(self, name: str) -> None:
        """Try another name after a refusal."""
        self.name, self.refused = name, None

    def line(self, text: str) -> bytes:
        """The next numbered line (ValueError if it does not fit in one datagram)."""
        data = encode_message(self.seq + 1, text)
        self.seq += 1
        return data

    def receive(self, data: bytes) -> list[p.ServerLine | str]:
        """A datagram from the server: the lines to show, in arrival order."""
        self.reply = None
        what = decode_server(data)
        if isinstance(what, Challenge):
            self.cookie = what.cookie
            # Joined but challenged: the server forgot us (restart or expiry).
            self.joined = False
            self.reply = self.join_datagram()
            return []
        if not isinstance(what, ServerLineDatagram):
            return []
        if self.downstream.add(what.seq) == "duplicate":
            return []
        parsed = p.parse_server_line(what.line)
        if parsed is not None:
            if parsed.kind == "info" and parsed.code == "welcome":
                self.joined = True
            if parsed.kind == "error" and parsed.code in ("name-taken", "name-invalid") and not self.joined:
                self.refused = parsed.text
            if what.origin is not None and parsed.name:
                self.origins.setdefault(parsed.name, SequenceTracker()).add(what.origin)
        return [what.line]


# --- the server: socket and thread --------------------------------------------

class UdpChatServer:
    """The UDP chat server: one socket, one thread, the ``UdpChatCore`` decides.

    ``start()`` returns once the socket is bound; ``address`` is (host, port);
    ``stop()`` tells the members and closes the socket.  ``on_event(kind,
    address, detail)`` is called for joins and leaves (from the server thread).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = p.DEFAULT_PORT, *,
                 idle_timeout: float = IDLE_TIMEOUT, history: int = p.HISTORY_SIZE,
                 rate: float = 10.0, burst: int = 20, max_members: int = 1500,
                 on_event: Callable[[str, Address, str], None] | None = None):
        self.host, self.port = host, port
        self.core = UdpChatCore(Room(history_size=history), idle_timeout=idle_timeout, rate=rate, burst=burst,
                                max_members=max_members)
        self.on_event = on_event
        self.sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def address(self) -> tuple[str, int]:
        assert self.sock is not None, "start() first"
        return self.sock.getsockname()[:2]

    def start(self) -> "UdpChatServer":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((self.host, self.port))
        except OSError:
            self.sock.close()
            raise
        self._thread = threading.Thread(target=self._loop, name="udp-chat-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until ``stop()`` (or Ctrl-C in the caller)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.2)

    def stop(self) -> None:
        if self.sock is None:
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(3)
        with self._lock:
            self._send(self.core.shutdown())
        self.sock.close()

    def _send(self, out: Outgoing) -> None:
        # Events first: once a member has its welcome, its join is on record.
        self._report()
        for address, data in out:
            try:
                self.sock.sendto(data, address)
            except OSError:
                pass  # e.g. no route, or ICMP errors from earlier sends: UDP just moves on

    def _report(self) -> None:
        events, self.core.events = self.core.events, []
        if self.on_event:
            for kind, address, detail in events:
                self.on_event(kind, address, detail)

    def _loop(self) -> None:
        next_sweep = time.monotonic() + 1
        while not self._stopping.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.2)
            if ready:
                try:
                    data, address = self.sock.recvfrom(65535)
                except OSError:
                    # Linux reports an ICMP "port unreachable" for an earlier
                    # sendto as an error on the next recvfrom: not fatal for UDP.
                    continue
                with self._lock:
                    self._send(self.core.receive(address[:2], data))
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + 1
                with self._lock:
                    self._send(self.core.expire())


def serve_udp(host: str = "127.0.0.1", port: int = p.DEFAULT_PORT, *, log=None, console=None,
              idle_timeout: float = IDLE_TIMEOUT, out: TextIO | None = None) -> int:
    """Run the UDP chat server until Ctrl-C/SIGTERM; returns the exit status.

    ``log`` (a lab.lifecycle.EventLog) gets a Listening event (transport
    "UDP"), a Named event per join and a Note per leave, and Stopped;
    ``console`` (rich) or ``out`` (a text stream) gets the start and stop lines.
    This is what `chatlab server --udp` runs (also as ``run_udp_server``).
    """
    from lab import lifecycle as ev

    def say(text: str) -> None:
        if console is not None:
            console.print(text)
        else:
            print(text, file=out or sys.stdout, flush=True)

    numbers: dict[Address, int] = {}

    def event(kind: str, address: Address, detail: str) -> None:
        who = ev.fmt_addr(address)
        if kind == "joined":
            numbers[address] = len(numbers) + 1
        number = numbers.get(address)
        if log is not None:
            if kind == "joined":
                log.emit(ev.Note(conn=number, text=f"{who} echoed our cookie: its address is proven, so it may "
                                                   "now receive more than it sent"))
                log.emit(ev.Named(conn=number, name=detail))
            else:
                log.emit(ev.Note(conn=number, text=f"{who} left ({detail}): no FIN over UDP, the server just "
                                                   "forgets the address"))
        elif kind == "joined":
            say(f"{who} joined as {detail}")
        else:
            say(f"{who} left ({detail})")

    server = UdpChatServer(host, port, idle_timeout=idle_timeout, on_event=event)
    try:
        server.start()
    except OSError as exc:
        say(f"chatlab server: cannot bind udp {host}:{port}: {exc.strerror}")
        return 1
    import signal

    def on_term(signum, frame):
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        # Announced inside the try: a Ctrl-C right after the announcement
        # must still stop the server cleanly.
        h, pt = server.address
        if log is not None:
            log.emit(ev.Listening(address=(h, pt), transport="UDP"))
        say(f"chat server on udp {h}:{pt}: members are known by their address; silent ones expire after "
            f"{idle_timeout:g} s. Ctrl-C stops it.")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if main:
            signal.signal(signal.SIGTERM, old)
    s = server.core.stats
    if log is not None:
        log.emit(ev.Stopped(reason="Ctrl-C or SIGTERM"))
    say(f"server stopped: {s['datagrams']} datagrams in, {s['duplicates_dropped']} duplicates dropped, "
        f"{s['challenges']} cookie challenges, {s['too_big']} too big")
    return 0


run_udp_server = serve_udp


# --- a scripted client (tests, compare, notebooks) ---------------------------

class UdpChatClient:
    """A non-interactive UDP chat client over a real socket.

    ``join()`` resends the join until welcomed; ``send(text)`` sends one
    numbered line; ``lines(timeout)`` returns the server lines received so
    far (waiting up to ``timeout`` for the first).  ``sock`` may be given
    (e.g. created inside a network namespace).
    """

    def __init__(self, server: tuple[str, int], name: str, sock: socket.socket | None = None):
        self.server = server
        self.core = UdpClientCore(name)
        self.sock = sock or socket.socket(socket.AF_INET6 if ":" in server[0] else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(server)
        self.received: list[tuple[float, str]] = []  # (time.monotonic() at arrival, line)

    def join(self, attempts: int = 30, interval: float = 0.3) -> None:
        """Join, resending until the welcome arrives; RuntimeError if it never does."""
        for _ in range(attempts):
            self._send(self.core.join_datagram())
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not self.core.joined:
                self.poll(deadline - time.monotonic())
                if self.core.refused:
                    raise RuntimeError(f"name refused: {self.core.refused}")
            if self.core.joined:
                return
        raise RuntimeError(f"no welcome from udp {self.server} after {attempts} joins")

    def send(self, text: str) -> None:
        self._send(self.core.line(text))

    def keepalive(self) -> None:
        self._send(KEEPALIVE)

    def _send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError:
            pass

    def poll(self, timeout: float = 0.0) -> int:
        """Handle the datagrams that arrive within ``timeout``; how many lines came."""
        count = 0
        end = time.monotonic() + max(0.0, timeout)
        while True:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                return count
            try:
                data = self.sock.recv(65535)
            except OSError:
                return count
            now = time.monotonic()
            for line in self.core.receive(data):
                self.received.append((now, line))
                count += 1
            if self.core.reply:
                self._send(self.core.reply)
            end = min(end, time.monotonic())  # after the first, only take what is already there

    def lines(self, timeout: float = 0.0) -> list[str]:
        self.poll(timeout)
        return [line for _, line in self.received]

    def close(self) -> None:
        self.sock.close()


# --- the interactive client -------------------------------------------------

def run_udp_client(host: str, port: int = p.DEFAULT_PORT, name: str | None = None, *,
                   stdin: TextIO | None = None, out: TextIO | None = None, console=None, log=None,
                   keepalive: float = KEEPALIVE_INTERVAL, join_attempts: int = 20) -> int:
    """Chat over UDP from a terminal: lines typed are sent, server lines printed.

    Returns the exit status (0 after /quit or end of input, 1 if the server
    never answered).  Lost, duplicated and reordered lines are counted and
    reported when the client ends.
    """
    stdin = stdin or sys.stdin
    out = out or sys.stdout

    def say(text: str) -> None:
        if console is not None:
            console.print(text)  # the caller's console is made with markup=False
        else:
            print(text, file=out, flush=True)

    def note(text: str) -> None:
        if log is not None:
            from lab import lifecycle as ev

            log.emit(ev.Note(side="client", text=text))
    while not name:
        say("What is your name?")
        name = stdin.readline().strip()
        if not name and stdin.closed:
            return 1
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        say(f"chatlab client: cannot resolve {host!r}: {exc.strerror}")
        return 1
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # connect() on UDP sends nothing: it only fixes the peer, so recv() gets
    # datagrams from the server alone and an ICMP "port unreachable" shows up
    # as ConnectionRefusedError, the only sign that nobody is listening.
    sock.connect(sockaddr)
    local = sock.getsockname()
    note(f"UDP socket {local[0]}:{local[1]} -> {sockaddr[0]}:{sockaddr[1]}: connect() on UDP sends nothing, it only "
         f"fixes the peer; {local[1]} is the ephemeral port the OS chose")
    core = UdpClientCore(name)
    lock = threading.Lock()
    last_sent = [time.monotonic()]
    done = threading.Event()

    def send(data: bytes) -> None:
        with lock:
            last_sent[0] = time.monotonic()
            try:
                sock.send(data)
            except OSError:
                pass

    def show(lines) -> None:
        for line in lines:
            say(line)

    def receive_some(timeout: float) -> bool:
        """Wait up to ``timeout`` for one datagram and handle it; False if the port is closed."""
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return True
        try:
            data = sock.recv(65535)
        except ConnectionRefusedError:
            return False
        except OSError:
            return True
        show(core.receive(data))
        if core.reply:
            send(core.reply)
        return True

    # Join: UDP has no handshake, so we resend the join until the welcome
    # (or a refusal) arrives; any of our datagrams may be lost.
    say(f"joining udp {sockaddr[0]}:{sockaddr[1]} as {name} ...")
    for _ in range(join_attempts):
        send(core.join_datagram())
        deadline = time.monotonic() + 0.5
        refused_port = False
        while time.monotonic() < deadline and not core.joined and not core.refused:
            if not receive_some(max(0.0, deadline - time.monotonic())):
                refused_port = True
                break
        if refused_port:
            say(f"chatlab client: nothing listens on udp port {sockaddr[1]} at {sockaddr[0]} "
                "(an ICMP port unreachable came back); start `chatlab server --udp` first")
            sock.close()
            return 1
        if core.refused:
            say("choose another name:")
            new = stdin.readline().strip()
            if not new:
                sock.close()
                return 1
            core.rename(new)
            continue
        if core.joined:
            note(f"joined as {core.name}: our cookie echo proved our address, no handshake needed")
            break
    if not core.joined:
        say(f"chatlab client: no answer from udp {sockaddr[0]}:{sockaddr[1]} after {join_attempts} joins "
            "(UDP cannot tell a silent server from a lost datagram)")
        sock.close()
        return 1

    def receiver() -> None:
        while not done.is_set():
            if not receive_some(0.2):
                say("--- the server's port is closed (ICMP port unreachable)")
            if time.monotonic() - last_sent[0] >= keepalive:
                send(KEEPALIVE)

    thread = threading.Thread(target=receiver, name="udp-client-receiver", daemon=True)
    thread.start()
    try:
        for raw in stdin:
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                send(core.line(text))
            except ValueError as exc:
                say(f"!!! not sent: {exc}")
                continue
            if text.strip().split()[0].lower() == "/quit":
                break
        else:
            send(core.line("/quit"))
        time.sleep(0.3)  # let the bye arrive
    except KeyboardInterrupt:
        send(core.line("/quit"))
    finally:
        done.set()
        thread.join(1)
        sock.close()
    d = core.downstream
    say(f"--- udp: {d.received} lines from the server, {d.lost} lost, {d.duplicated} duplicated, "
        f"{d.out_of_order} out of order")
    return 0

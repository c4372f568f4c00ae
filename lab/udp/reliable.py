"""Reliable, ordered delivery over UDP: what TCP does, rebuilt (sans-I/O core + thin socket endpoints).

UDP loses, duplicates and reorders datagrams and says nothing.  This module
adds back, on top of it, the machinery TCP uses to deliver everything once
and in order, in its simplest classic form:

* **sequence numbers** on every datagram, 32 bits, wrapping around
  (``seq_add``, ``seq_diff``: the serial-number arithmetic of RFC 1982 that
  TCP uses, RFC 9293 3.4);
* **cumulative acknowledgements**: the receiver answers every datagram with
  ``ACK n``, "I have everything before n", so a lost ACK is repaired by the
  next one;
* **a retransmission timer**: what is not acknowledged in time is sent again;
  the timeout follows the round-trip time as RFC 6298 computes it
  (``RttEstimator`` from :mod:`lab.net.rto`: SRTT, RTTVAR, RTO, exponential
  back-off; the sender applies Karn's rule);
* **a sliding window**: up to ``window`` datagrams in flight before the first
  ACK comes back, instead of one round trip per datagram (stop-and-wait is
  the window of 1);
* **a receiver that reassembles**: it keeps datagrams that arrive early,
  drops duplicates, and hands the payloads to the application in order.

The sender is **Go-Back-N**: on a timeout it sends again *every* datagram in
flight, oldest first.  Why not selective repeat: a cumulative ACK says where
the first gap is and nothing about what arrived after it, so the sender
cannot know which of the later datagrams to skip; selective repeat needs one
ACK per datagram, or SACK blocks (RFC 2018).  Our receiver keeps early
datagrams anyway (as TCP's does), so one go-back round fills several gaps at
once and the cumulative ACK jumps.  What Linux's TCP adds: SACK tells the
sender exactly which segments arrived, RACK-TLP (RFC 8985) resends only the
holes, soon after a later segment is acknowledged, without waiting for the
timer; and congestion control (RFC 5681) slows the sender when loss means a
queue is full.  None of that is here: the point is the mechanism.

Datagrams (one byte of kind, a 32-bit number in network byte order, then the
payload for DATA only)::

    S <seq>           SYN: opens the stream; seq is the sender's initial
                      sequence number (ISN), chosen by the caller:
                      chatlab compare draws it from its seeded
                      generator, so that a run can be replayed.
                      TCP's must be unpredictable (RFC 6528)
                      against forged segments; a seeded one is not.
    D <seq> PAYLOAD   DATA: 1 to PAYLOAD_SIZE bytes of the stream
    F <seq>           FIN: the end of the stream
    A <ack>           ACK: "I have every datagram before ack" (cumulative)
    B <seq>           BYE: the sender's FIN was acknowledged, it is leaving;
                      nobody acknowledges a BYE

SYN, each DATA and FIN take one sequence number each: we number datagrams,
where TCP numbers bytes (a SYN or FIN takes one number there too).  The SYN
is acknowledged with ``A isn+1`` and, as in TCP, nothing else is sent until
it is.

``Sender``, ``Receiver``, the timers and the datagram functions are
sans-I/O: plain objects fed with datagrams and the current time, that
return datagrams to send; no socket, no clock, no thread.  ``SenderSocket``
and ``ReceiverSocket`` attach them to a UDP socket (``chatlab compare`` runs
them).

Exercise 12 (``solutions/ex12_reliable.py``) has students write the same
algorithm; the code there is this code and lab/net/rto.py's estimator
(tests/udp/test_reliable.py checks that they say the same, docstrings
aside): the exercise must be
self-contained and hand out no answer, and the kit needs its reference in
``lab/``, which the student release ships without ``solutions/``.
"""

from __future__ import annotations

import select
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from lab.net.rto import RttEstimator
from lab.udp.datagrams import MAX_DATAGRAM

# --- datagram format (sans-I/O) -----------------------------------------------

SEQ_SPACE = 2**32  # sequence numbers are 32 bits and wrap around, like TCP's
HEADER = struct.Struct("!cI")  # kind (1 byte), then the sequence or ack number (unsigned 32 bits, big-endian)
PAYLOAD_SIZE = 1024  # bytes of the stream per DATA datagram: 5 + 1024 bytes, well under MAX_DATAGRAM

SYN, DATA, FIN, ACK, BYE = b"S", b"D", b"F", b"A", b"B"
KINDS = (SYN, DATA, FIN, ACK, BYE)


class Datagram(NamedTuple):
    """One decoded datagram: its kind (SYN, DATA, FIN, ACK, BYE), its number, its payload (DATA only)."""

    kind: bytes
    number: int
    payload: bytes = b""


def encode(kind: bytes, number: int, payload: bytes = b"") -> bytes:
    """The datagram KIND NUMBER [PAYLOAD] as bytes."""
    if kind not in KINDS:
        raise ValueError(f"unknown datagram kind {kind!r}")
    if payload and kind != DATA:
        raise ValueError("only DATA datagrams carry a payload")
    if len(payload) > PAYLOAD_SIZE:
        raise ValueError(f"a DATA payload is at most {PAYLOAD_SIZE} bytes, not {len(payload)}")
    return HEADER.pack(kind, number % SEQ_SPACE) + payload


def decode(data: bytes) -> Datagram | None:
    """The Datagram in DATA, or None when DATA is not one of ours (anyone can send to a UDP port)."""
    if len(data) < HEADER.size or len(data) > HEADER.size + PAYLOAD_SIZE:
        return None
    kind, number = HEADER.unpack_from(data)
    payload = data[HEADER.size:]
    if kind not in KINDS or (payload and kind != DATA) or (kind == DATA and not payload):
        return None
    return Datagram(kind, number, payload)


# --- sequence numbers on a 32-bit circle (sans-I/O) ------------------------------

def seq_add(seq: int, n: int) -> int:
    """The sequence number N places after SEQ, wrapping from 2**32 - 1 to 0."""
    return (seq + n) % SEQ_SPACE


def seq_diff(a: int, b: int) -> int:
    """How many places A is after B on the 32-bit circle (negative: before), in -2**31 .. 2**31 - 1.

    ``seq_diff(0, 2**32 - 1) == 1``: 0 comes right after the highest number.
    The nearer way round wins, so this is right for any two numbers less than
    2**31 apart (RFC 1982; TCP's SEQ_LT in Linux is ``(s32)(a - b) < 0``).
    """
    distance = (a - b) % SEQ_SPACE
    return distance - SEQ_SPACE if distance >= SEQ_SPACE // 2 else distance


# --- retransmission timeouts (sans-I/O) -----------------------------------------------
# The adaptive one, RFC 6298's RttEstimator, is lab/net/rto.py's (the kit's one copy of
# the SRTT/RTTVAR arithmetic); a timer is anything with ``rto``, ``sample`` and ``backoff``.

class FixedTimer:
    """A retransmission timeout that never changes: RTO seconds, whatever the round-trip time."""

    def __init__(self, rto: float) -> None:
        self.rto = rto

    def sample(self, rtt: float) -> None:
        """A round-trip time was measured: a fixed timer ignores it."""

    def backoff(self) -> None:
        """The timer expired: a fixed timer stays as it is."""


DEFAULT_MAX_RTO = 1.0
"""The cap on the timeout the kit's transfers use, in seconds.

Backing off (RFC 6298 5.5) keeps TCP from flooding a congested path with
copies, and the RFC lets a cap be placed only at 60 s or more.  The lab's
lossy paths drop at random and nobody is congested: there, backing off to a
minute would turn one unlucky datagram into a minute's wait, and a 30 %
lossy run into many minutes.  So the kit caps at 1 s: the back-off is still
seen (0.2, 0.4, 0.8, 1 s...), never for long."""


# --- the sender (sans-I/O) -----------------------------------------------------------

@dataclass
class InFlight:
    """A datagram sent and not yet acknowledged."""

    seq: int
    kind: bytes
    datagram: bytes
    sent_at: float  # when it was first sent
    retransmitted: bool = False  # sent more than once: Karn's rule takes no sample from it


class Sender:
    """A Go-Back-N sender: numbered datagrams, at most ``window`` in flight, one timer, cumulative ACKs.

    Feed it: ``send(payload)`` for each piece of the stream, ``close()``
    after the last one, ``receive(datagram, now)`` for each datagram from
    the receiver.  Ask it: ``poll(now)`` returns the datagrams to transmit
    now (new ones the window allows, and retransmissions when the timer has
    expired); ``deadline`` is when to call ``poll`` again at the latest (the
    timer; None when nothing is in flight); ``done`` once the FIN is
    acknowledged.  Times are seconds on any one clock.
    """

    def __init__(self, isn: int = 0, window: int = 8, timer: FixedTimer | RttEstimator | None = None) -> None:
        if window < 1:
            raise ValueError("the window is at least 1 datagram")
        self.isn = isn % SEQ_SPACE
        self.window = window
        self.timer = timer if timer is not None else RttEstimator(max_rto=DEFAULT_MAX_RTO)
        self.waiting: deque[tuple[bytes, bytes]] = deque([(SYN, b"")])  # (kind, payload) not sent yet
        self.in_flight: deque[InFlight] = deque()  # sent, not acknowledged, oldest first
        self.next_seq = self.isn  # the number the next new datagram takes
        self.deadline: float | None = None  # when the retransmission timer expires
        self.established = False  # the SYN was acknowledged
        self.closed = False  # close() was called: the FIN is queued
        self.transmissions = 0  # datagrams handed to poll()'s caller, retransmissions included
        self.retransmissions = 0

    def send(self, payload: bytes) -> None:
        """Queue PAYLOAD (1 to PAYLOAD_SIZE bytes) as one DATA datagram."""
        if self.closed:
            raise ValueError("send() after close()")
        if not 1 <= len(payload) <= PAYLOAD_SIZE:
            raise ValueError(f"a payload is 1 to {PAYLOAD_SIZE} bytes, not {len(payload)}")
        self.waiting.append((DATA, payload))

    def close(self) -> None:
        """No more payloads: queue the FIN."""
        if not self.closed:
            self.closed = True
            self.waiting.append((FIN, b""))

    @property
    def base(self) -> int:
        """The oldest sequence number not acknowledged yet."""
        return self.in_flight[0].seq if self.in_flight else self.next_seq

    @property
    def done(self) -> bool:
        """The FIN was acknowledged: the receiver has the whole stream."""
        return self.closed and not self.waiting and not self.in_flight

    def usable_window(self) -> int:
        """How many datagrams may be in flight now: 1 until the SYN is acknowledged, then ``window``."""
        return self.window if self.established else 1

    def poll(self, now: float) -> list[bytes]:
        """The datagrams to transmit at time NOW: retransmissions if the timer expired, then new ones."""
        out = []
        if self.deadline is not None and now >= self.deadline:
            resent = self.on_timer(now)
            self.retransmissions += len(resent)
            out += resent
        out += self.fill_window(now)
        self.transmissions += len(out)
        return out

    def receive(self, datagram: bytes, now: float) -> None:
        """A datagram from the receiver arrived at time NOW (anything but an ACK is ignored)."""
        got = decode(datagram)
        if got is not None and got.kind == ACK:
            self.on_ack(got.number, now)

    def fill_window(self, now: float) -> list[bytes]:
        """Number, encode and return waiting datagrams while fewer than ``usable_window()`` are in flight.

        Each new datagram takes ``next_seq`` (then ``next_seq`` moves on by
        one, wrapping) and goes to the end of ``in_flight``, sent at NOW.
        When the timer is not running (``deadline`` None) and something was
        sent, start it: ``deadline = now + timer.rto`` (RFC 6298 5.1).
        """
        out = []
        while self.waiting and len(self.in_flight) < self.usable_window():
            kind, payload = self.waiting.popleft()
            datagram = encode(kind, self.next_seq, payload)
            self.in_flight.append(InFlight(self.next_seq, kind, datagram, now))
            self.next_seq = seq_add(self.next_seq, 1)
            out.append(datagram)
        if out and self.deadline is None:
            self.deadline = now + self.timer.rto
        return out

    def on_ack(self, ack: int, now: float) -> None:
        """``ACK ack`` arrived at NOW: everything before ACK is acknowledged (cumulative).

        An ACK for nothing new (old, duplicate) or for what was never sent
        changes nothing.  Otherwise: drop the acknowledged datagrams from
        ``in_flight``; the SYN among them makes the stream ``established``;
        if the newest one acknowledged was sent only once, give the timer
        its round-trip time (Karn's rule); restart the timer for what is
        still in flight, or stop it when nothing is (RFC 6298 5.2, 5.3).
        """
        if not self.in_flight:
            return
        acknowledged = seq_diff(ack, self.in_flight[0].seq)
        if acknowledged <= 0 or acknowledged > len(self.in_flight):
            return
        for _ in range(acknowledged):
            newest = self.in_flight.popleft()
            if newest.kind == SYN:
                self.established = True
        if not newest.retransmitted:
            self.timer.sample(now - newest.sent_at)
        self.deadline = now + self.timer.rto if self.in_flight else None

    def on_timer(self, now: float) -> list[bytes]:
        """The timer expired at NOW: go back N.

        Back off the timer (RFC 6298 5.5), mark every datagram in flight as
        retransmitted, restart the timer (5.6) and return all of them,
        oldest first, to be sent again.
        """
        if not self.in_flight:
            self.deadline = None
            return []
        self.timer.backoff()
        for item in self.in_flight:
            item.retransmitted = True
        self.deadline = now + self.timer.rto
        return [item.datagram for item in self.in_flight]


# --- the receiver (sans-I/O) ---------------------------------------------------------

class Receiver:
    """Reassembles the stream: keeps early datagrams, drops duplicates, delivers in order, ACKs cumulatively.

    ``receive(datagram)`` returns the ACK datagram to send back (or None:
    nothing to say, e.g. data before any SYN); ``read()`` returns the
    payloads delivered in order since the last call; ``finished`` once the
    FIN and everything before it have arrived.  At most ``window``
    datagrams ahead of the first gap are kept (memory is bounded); further
    ones are dropped and will come again.
    """

    def __init__(self, window: int = 64) -> None:
        self.window = window
        self.next_expected: int | None = None  # the first number not received yet; None before the SYN
        self.early: dict[int, tuple[bytes, bytes]] = {}  # arrived ahead of a gap: seq -> (kind, payload)
        self.ready: deque[bytes] = deque()  # delivered in order, not read yet
        self.finished = False  # the FIN was delivered
        self.datagrams = 0  # SYN/DATA/FIN datagrams received
        self.duplicates = 0  # ... that had been received before
        self.out_of_order = 0  # ... that arrived ahead of a gap
        self.delivered_bytes = 0

    def receive(self, datagram: bytes) -> bytes | None:
        """Take one datagram from the sender; return the ACK to send back, or None."""
        got = decode(datagram)
        if got is None or got.kind not in (SYN, DATA, FIN):
            return None
        self.datagrams += 1
        ack = self.on_segment(got.kind, got.number, got.payload)
        return None if ack is None else encode(ACK, ack)

    def read(self) -> list[bytes]:
        """The payloads delivered in order since the last read()."""
        out = list(self.ready)
        self.ready.clear()
        return out

    def on_segment(self, kind: bytes, seq: int, payload: bytes) -> int | None:
        """Datagram KIND number SEQ arrived: keep it, deliver what is now in order; return the ACK number.

        Before the SYN nothing is known: a SYN sets ``next_expected`` to
        seq + 1, anything else is ignored (return None).  After it, use
        ``seq_diff(seq, next_expected)`` (never ``<`` on raw numbers: they
        wrap): behind (already delivered), already kept in ``early``, or a
        SYN again, is a duplicate; ``window`` or more ahead is dropped.  Keep
        the rest in ``early`` (ahead of a gap: out of order), then move
        everything that is now in order from ``early`` to ``ready`` (DATA
        payloads; a FIN sets ``finished``).  Always answer with
        ``next_expected``: a duplicate means our ACK may have been lost.
        """
        if self.next_expected is None:
            if kind != SYN:
                return None
            self.next_expected = seq_add(seq, 1)
            return self.next_expected
        ahead = seq_diff(seq, self.next_expected)
        if ahead < 0 or seq in self.early or kind == SYN:
            self.duplicates += 1
            return self.next_expected
        if ahead >= self.window or self.finished:
            return self.next_expected
        if ahead > 0:
            self.out_of_order += 1
        self.early[seq] = (kind, payload)
        while self.next_expected in self.early:
            kind, payload = self.early.pop(self.next_expected)
            self.next_expected = seq_add(self.next_expected, 1)
            if kind == FIN:
                self.finished = True
            else:
                self.ready.append(payload)
                self.delivered_bytes += len(payload)
        return self.next_expected


# --- on a socket (I/O) ------------------------------------------------------------------

class SenderSocket:
    """A Sender attached to a UDP socket, talking to one PEER (an (ip, port) pair)."""

    def __init__(self, sock: socket.socket, peer: tuple[str, int], sender: Sender) -> None:
        self.sock, self.peer, self.sender = sock, peer, sender

    def pump(self, now: float) -> None:
        """Transmit what the sender has to send at NOW."""
        for datagram in self.sender.poll(now):
            self.sock.sendto(datagram, self.peer)

    def on_readable(self, now: float) -> None:
        """Read one datagram (the socket is readable) and give it to the sender if it came from the peer."""
        data, source = self.sock.recvfrom(MAX_DATAGRAM)
        if source[:2] == self.peer:
            self.sender.receive(data, now)
        self.pump(now)

    def say_bye(self, copies: int = 3) -> None:
        """Tell the receiver we are leaving, COPIES times (nobody acknowledges a BYE)."""
        for _ in range(copies):
            self.sock.sendto(encode(BYE, self.sender.next_seq), self.peer)


class ReceiverSocket:
    """A Receiver attached to a UDP socket: answers the first sender whose SYN arrives, ignores the others."""

    def __init__(self, sock: socket.socket, receiver: Receiver | None = None) -> None:
        self.sock = sock
        self.receiver = receiver if receiver is not None else Receiver()
        self.peer: tuple[str, int] | None = None
        self.bye = False  # the sender said BYE
        self.acks_sent = 0

    def on_readable(self) -> list[bytes]:
        """Read one datagram, answer it; return the payloads it made deliverable, in order."""
        data, source = self.sock.recvfrom(MAX_DATAGRAM)
        got = decode(data)
        if self.peer is None and got is not None and got.kind == SYN:
            self.peer = source[:2]
        if source[:2] != self.peer or got is None:
            return []
        if got.kind == BYE:
            self.bye = True
            return []
        ack = self.receiver.receive(data)
        if ack is not None:
            self.sock.sendto(ack, self.peer)
            self.acks_sent += 1
        return self.receiver.read()


def readable(socks: list[socket.socket], timeout: float) -> list[socket.socket]:
    """The sockets among SOCKS with a datagram waiting, within TIMEOUT seconds (at least 0)."""
    ready, _, _ = select.select(socks, [], [], max(0.0, timeout))
    return ready

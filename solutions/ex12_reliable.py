"""Exercise 12: reliable transfer over UDP -- what TCP does, rebuilt.

What you learn
--------------
UDP loses, duplicates and reorders datagrams, and tells nobody (exercise 6
counted it).  TCP hides all of that behind a byte stream.  Here you build
the machinery yourself, on top of UDP, in its classic textbook form:

* **sequence numbers**: every datagram carries a 32-bit number; numbers
  wrap from 4294967295 back to 0, so "is a before b?" is a question about a
  circle, not about integers;
* **acknowledgements**: the receiver answers every datagram with ``ACK n``,
  meaning "I have every datagram before n" (*cumulative*: one ACK that
  gets through makes up for the ones lost before it);
* **a retransmission timer**: what is not acknowledged in time is sent
  again (*stop-and-wait* is the simplest sender: one datagram, then wait);
* **a sliding window**: up to ``window`` datagrams in flight before the
  first ACK returns (*Go-Back-N*: on a timeout, send again every datagram in
  flight);
* **a receiver that reassembles**: it keeps datagrams that arrive early,
  drops duplicates, and delivers in order;
* **a timeout that follows the round-trip time**, as RFC 6298 computes it
  for TCP (SRTT, RTTVAR, RTO, Karn's rule, exponential back-off).

Linux's TCP does more: it numbers bytes (not datagrams), tells the sender
exactly which segments arrived (SACK, RFC 2018), resends lost ones soon
after a later segment is acknowledged instead of waiting for the timer
(RACK-TLP, RFC 8985), and slows down when loss means a full queue
(congestion control, RFC 5681).  ``chatlab compare`` shows what that buys.

Why Go-Back-N and not selective repeat: a cumulative ACK says where the
first gap is and nothing about what arrived after it, so the sender cannot
know which later datagrams to skip.  Selective repeat needs an ACK per
datagram (or SACK blocks).  Your receiver keeps early datagrams anyway, as
TCP's does, so one go-back round fills several gaps and the ACK then jumps.

The datagrams (given: ``encode`` and ``decode``)
-----------------------------------------------
One byte of kind, a 32-bit number in network byte order, then the payload
(DATA only)::

    S <seq>           SYN: opens the stream; seq is the sender's initial
                      sequence number (ISN), random, like TCP's
    D <seq> PAYLOAD   DATA: 1 to PAYLOAD_SIZE (1024) bytes of the stream
    F <seq>           FIN: the end of the stream
    A <ack>           ACK: "I have every datagram before ack"
    B <seq>           BYE: the sender's FIN was acknowledged, it leaves
                      (nobody acknowledges a BYE)

SYN, each DATA and FIN take one sequence number each.  A transfer of two
pieces with ISN 7, nothing lost::

    sender -> receiver   S 7
    receiver -> sender   A 8          (the SYN arrived; nothing else is sent before this)
    sender -> receiver   D 8 "hello " , D 9 "world"
    receiver -> sender   A 9 , A 10
    sender -> receiver   F 10
    receiver -> sender   A 11         (the sender is done)
    sender -> receiver   B 11 (three times)

What to write, step by step (each step has its graded tests)
-------------------------------------------------------------
1. ``seq_add`` and ``seq_diff``: arithmetic on the 32-bit circle.
2. Stop-and-wait: ``Sender.fill_window``, ``Sender.on_ack`` and
   ``Sender.on_timer`` for ``window=1`` with a ``FixedTimer``: one datagram
   in flight, sent again each time the timer expires.
3. The sliding window: the same three methods for any ``window``; ACKs are
   cumulative; a timeout sends again everything in flight.
4. The receiver: ``Receiver.on_segment``.
5. The RTT-based timeout: ``RttEstimator.sample`` and ``.backoff``, and in
   the sender: a sample on each new ACK (not from a datagram sent twice),
   and a back-off on each timeout.
6. Nothing new to write: the graded runs send a file through the kit's
   lossy relay (0, 10 and 30 % loss, with duplicates and reordering, and a
   receiver that starts late) and through the command line.

Everything else (the datagram format, the socket loops, the command line)
is given.  ``Sender``, ``Receiver`` and ``RttEstimator`` never touch a
socket or a clock: they are given datagrams and the time, and return
datagrams, so the tests can drive them by hand.

Try it, in two terminals (then through a lossy relay, see docs/EXERCISES.md)::

    python -m exercises.ex12_reliable receive --port 5001 --out copy.bin
    python -m exercises.ex12_reliable send 127.0.0.1 5001 lab/data/books/alice.txt
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

MAX_DATAGRAM = 1200  # the largest datagram we read (the kit's UDP limit, docs/UDP.md)

# --- the datagram format (given) ---------------------------------------------------

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
    """The datagram KIND NUMBER [PAYLOAD] as bytes: ``encode(ACK, 8) == b"A\\x00\\x00\\x00\\x08"``."""
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


# --- step 1: sequence numbers on a 32-bit circle -------------------------------------------

def seq_add(seq: int, n: int) -> int:
    """The sequence number N places after SEQ, wrapping from 2**32 - 1 to 0.

    ``seq_add(2**32 - 1, 1) == 0``, ``seq_add(5, 3) == 8``.
    """
    ### BEGIN SOLUTION
    return (seq + n) % SEQ_SPACE
    ### END SOLUTION


def seq_diff(a: int, b: int) -> int:
    """How many places A is after B on the 32-bit circle (negative: A is before B).

    The result is between -2**31 and 2**31 - 1: of the two ways round the
    circle, the shorter one counts.  ``seq_diff(0, 2**32 - 1) == 1`` (0
    comes right after the highest number), ``seq_diff(2**32 - 1, 0) == -1``,
    ``seq_diff(70000, 0) == 70000``.  This is how TCP compares its sequence
    numbers (RFC 1982, RFC 9293 3.4): never with ``<`` on the raw numbers,
    and with all 32 bits.
    """
    ### BEGIN SOLUTION
    distance = (a - b) % SEQ_SPACE
    return distance - SEQ_SPACE if distance >= SEQ_SPACE // 2 else distance
    ### END SOLUTION


# --- retransmission timeouts: a fixed one (given) and RFC 6298's (step 5) ---------------

class FixedTimer:
    """A retransmission timeout that never changes: RTO seconds, whatever the round-trip time."""

    def __init__(self, rto: float) -> None:
        self.rto = rto

    def sample(self, rtt: float) -> None:
        """A round-trip time was measured: a fixed timer ignores it."""

    def backoff(self) -> None:
        """The timer expired: a fixed timer stays as it is."""


ALPHA, BETA, K = 1 / 8, 1 / 4, 4  # RFC 6298 (2.3)


class RttEstimator:
    """The retransmission timeout of RFC 6298 (the one TCP uses), from round-trip samples.

    Read RFC 6298 section 2; in short:

    * before any sample, ``rto`` is ``initial_rto`` (1 s, rule 2.1);
    * the first sample R (2.2): SRTT = R, RTTVAR = R / 2;
    * each later sample R' (2.3), in this order:
      RTTVAR = (1 - beta) RTTVAR + beta |SRTT - R'|   (with the *old* SRTT)
      SRTT   = (1 - alpha) SRTT + alpha R'            (alpha = 1/8, beta = 1/4);
    * then RTO = SRTT + max(G, K RTTVAR), K = 4, G = ``granularity``, kept
      between ``min_rto`` and ``max_rto`` (2.4, 2.5);
    * each time the timer expires, RTO doubles, up to ``max_rto`` (5.5,
      "back off the timer"); the next sample computes it afresh.

    The floor: RFC 6298 (2.4) says 1 s; Linux uses 200 ms (TCP_RTO_MIN),
    which is the default here.  The cap: the RFC allows one of 60 s or more
    (Linux: 120 s), the default here; the transfers below pass 1 s
    (``DEFAULT_MAX_RTO`` says why).  Exercise 10 computes SRTT, RTTVAR and
    RTO by the same rules (alpha, beta and K as here).
    """

    def __init__(self, min_rto: float = 0.2, max_rto: float = 60.0, initial_rto: float = 1.0,
                 granularity: float = 0.001) -> None:
        self.min_rto, self.max_rto, self.granularity = min_rto, max_rto, granularity
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self.rto = min(max(initial_rto, min_rto), max_rto)

    def sample(self, rtt: float) -> None:
        """Take one round-trip time RTT (seconds) into ``srtt``, ``rttvar`` and ``rto``."""
        ### BEGIN SOLUTION
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        self.rto = min(max(self.srtt + max(self.granularity, K * self.rttvar), self.min_rto), self.max_rto)
        ### END SOLUTION

    def backoff(self) -> None:
        """The timer expired: double ``rto``, at most ``max_rto``."""
        ### BEGIN SOLUTION
        self.rto = min(self.rto * 2, self.max_rto)
        ### END SOLUTION


DEFAULT_MAX_RTO = 1.0
"""The cap on the timeout the transfers here use, in seconds.

Backing off (RFC 6298 5.5) keeps TCP from flooding a congested path with
copies, and the RFC lets a cap be placed only at 60 s or more.  The lab's
lossy paths drop at random and nobody is congested: there, backing off to a
minute would turn one unlucky datagram into a minute's wait, and a 30 %
lossy run into many minutes.  So the kit caps at 1 s: the back-off is still
seen (0.2, 0.4, 0.8, 1 s...), never for long."""


# --- steps 2, 3 and 5: the sender --------------------------------------------------------

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

    The socket loop (``send_bytes``, given) feeds it: ``send(payload)`` for
    each piece of the stream, ``close()`` after the last, ``receive(data,
    now)`` for each datagram from the receiver; and asks it: ``poll(now)``
    for the datagrams to transmit now, ``deadline`` for when to poll again
    at the latest (the retransmission timer; None when it is not running),
    ``done`` once the FIN is acknowledged.  Times are seconds, any clock.

    The state you work with: ``waiting`` (kind, payload) pairs not sent yet,
    starting with the SYN; ``in_flight`` the InFlight datagrams sent and not
    acknowledged, oldest first; ``next_seq`` the number the next new
    datagram takes (the first is ``isn``); ``deadline``; ``established``
    (the SYN was acknowledged); ``timer`` (a FixedTimer or an RttEstimator:
    read ``timer.rto``, call ``timer.sample(rtt)`` and ``timer.backoff()``).
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
        """Send new datagrams while the window allows; return them (encoded), in order.

        While ``waiting`` is not empty and fewer than ``usable_window()``
        datagrams are in flight: take the first (kind, payload) of
        ``waiting``, encode it with number ``next_seq``, append an
        ``InFlight(next_seq, kind, datagram, now)`` to ``in_flight``, move
        ``next_seq`` on by one (``seq_add``: it wraps).  If something was sent
        and the timer is not running (``deadline`` is None), start it:
        ``deadline = now + timer.rto`` (RFC 6298, rule 5.1).
        """
        ### BEGIN SOLUTION
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
        ### END SOLUTION

    def on_ack(self, ack: int, now: float) -> None:
        """``ACK ack`` arrived at time NOW: every datagram numbered before ACK has arrived.

        The ACK is *cumulative*: ``ACK 15`` acknowledges 14, 13, 12... even
        if their own ACKs were lost.  How many datagrams of ``in_flight`` it
        acknowledges is ``seq_diff(ack, <the oldest one's seq>)``; if that is
        0 or less (an old or repeated ACK) or more than are in flight (an ACK
        for something never sent), ignore the ACK.  Otherwise:

        * remove them from ``in_flight`` (if the SYN is among them, the stream
          is ``established``);
        * step 5: if the newest datagram this ACK acknowledges was sent only
          once, ``timer.sample(now - its sent_at)``; never from one sent twice
          (Karn's rule: which copy is this ACK for?);
        * restart the timer for what is still in flight, ``deadline = now +
          timer.rto``, or stop it (``None``) when nothing is (rules 5.2, 5.3).
        """
        ### BEGIN SOLUTION
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
        ### END SOLUTION

    def on_timer(self, now: float) -> list[bytes]:
        """The timer expired at NOW: return the datagrams to send again, oldest first.

        Go-Back-N: all of ``in_flight`` (with ``window=1``, the one datagram:
        that is stop-and-wait).  Mark each as ``retransmitted``.  Step 5:
        first ``timer.backoff()`` (rule 5.5).  Then restart the timer:
        ``deadline = now + timer.rto`` (rule 5.6).  If nothing is in flight,
        stop the timer (``None``) and return ``[]``.
        """
        ### BEGIN SOLUTION
        if not self.in_flight:
            self.deadline = None
            return []
        self.timer.backoff()
        for item in self.in_flight:
            item.retransmitted = True
        self.deadline = now + self.timer.rto
        return [item.datagram for item in self.in_flight]
        ### END SOLUTION


# --- step 4: the receiver ------------------------------------------------------------------

class Receiver:
    """Reassembles the stream: keeps early datagrams, drops duplicates, delivers in order, ACKs cumulatively.

    The socket loop (``receive_bytes``, given) calls ``receive(data)`` for
    each datagram and sends back the ACK it returns; ``read()`` gives the
    payloads delivered in order so far; ``finished`` once the FIN and
    everything before it have arrived.

    The state you work with: ``next_expected`` (the first number not
    received yet; None before the SYN), ``early`` (seq -> (kind, payload) of
    datagrams that arrived ahead of a gap), ``ready`` (payloads delivered in
    order, for ``read()``), ``finished``, and the counters ``duplicates``,
    ``out_of_order``, ``delivered_bytes``.
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
        """Datagram KIND (SYN, DATA or FIN) number SEQ arrived: return the number to ACK (or None).

        * Before any SYN (``next_expected`` is None): a SYN sets
          ``next_expected`` to seq + 1 and is acknowledged; anything else is
          ignored (return None: we do not know where the stream starts).
        * After it, where is SEQ? ``seq_diff(seq, next_expected)`` (the
          numbers wrap: never compare them with ``<``):
          - behind (already delivered), already in ``early``, or a SYN
            again: a duplicate (count it), deliver nothing;
          - ``window`` or more ahead, or after the FIN: drop it (memory is
            bounded; the sender will send it again);
          - otherwise keep it in ``early`` (if it is ahead of a gap, count it
            ``out_of_order``), then move everything that is now in order
            from ``early`` on: a DATA payload to ``ready`` (and
            ``delivered_bytes``), a FIN sets ``finished``; ``next_expected``
            moves on by one for each.
        * Always return ``next_expected`` (once known): the ACK is
          cumulative, and a duplicate means our last ACK may have been lost.
        """
        ### BEGIN SOLUTION
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
        ### END SOLUTION


# --- the socket loops (given) ----------------------------------------------------------------

class TransferError(Exception):
    """The peer never answered, or stopped answering (the message is one line for the user)."""


@dataclass
class Sent:
    """How a send went: the finished Sender, the bytes, how long it took."""

    sender: Sender
    size: int
    seconds: float


@dataclass
class Received:
    """How a receive went: the bytes, the Receiver, who sent them, how long it took."""

    data: bytes
    receiver: Receiver
    peer: tuple[str, int]
    seconds: float


def send_bytes(sock: socket.socket, peer: tuple[str, int], data: bytes, window: int = 8,
               timer: FixedTimer | RttEstimator | None = None, isn: int | None = None,
               give_up: float = 10.0) -> Sent:
    """Send DATA reliably to PEER (ip, port) from the UDP socket SOCK.

    Cuts DATA into PAYLOAD_SIZE pieces, runs a Sender until its FIN is
    acknowledged, then says BYE three times.  Raises TransferError when
    nothing new is acknowledged for GIVE_UP seconds.  ISN: random if None.
    """
    sender = Sender(random.randrange(SEQ_SPACE) if isn is None else isn, window, timer)
    for start in range(0, len(data), PAYLOAD_SIZE):
        sender.send(data[start:start + PAYLOAD_SIZE])
    sender.close()
    began = last_progress = time.monotonic()
    base = sender.base
    while not sender.done:
        now = time.monotonic()
        for datagram in sender.poll(now):
            sock.sendto(datagram, peer)
        if sender.base != base:
            base, last_progress = sender.base, now
        if now - last_progress >= give_up:
            if not sender.established:
                raise TransferError(f"no answer from {peer[0]}:{peer[1]} in {give_up:g} s "
                                    f"({sender.transmissions} SYNs sent, none acknowledged): "
                                    "is the receiver running?")
            total = seq_diff(sender.next_seq, sender.isn) + len(sender.waiting)
            raise TransferError(f"the receiver stopped answering: nothing acknowledged for {give_up:g} s "
                                f"({seq_diff(sender.base, sender.isn)} of {total} datagrams acknowledged)")
        wait = last_progress + give_up - now
        if sender.deadline is not None:
            wait = min(wait, sender.deadline - now)
        if select.select([sock], [], [], max(0.0, wait))[0]:
            reply, source = sock.recvfrom(MAX_DATAGRAM)
            if source[:2] == peer:
                sender.receive(reply, time.monotonic())
    for _ in range(3):
        sock.sendto(encode(BYE, sender.next_seq), peer)
    return Sent(sender, len(data), time.monotonic() - began)


def receive_bytes(sock: socket.socket, wait: float = 60.0, give_up: float = 10.0, linger: float = 10.0) -> Received:
    """Receive one stream on the bound UDP socket SOCK, from the first sender whose SYN arrives.

    Raises TransferError when no SYN comes within WAIT seconds, or when the
    sender goes silent for GIVE_UP seconds before its FIN.  After the FIN it
    lingers, answering whatever the sender sends again (its last ACK may
    have been lost: TCP's TIME_WAIT exists for the same reason), until the
    sender's BYE or LINGER seconds of silence.
    """
    receiver = Receiver()
    peer: tuple[str, int] | None = None
    pieces: list[bytes] = []
    began = first = last_heard = time.monotonic()
    finished_at: float | None = None
    while True:
        now = time.monotonic()
        if peer is None:
            left = began + wait - now
            if left <= 0:
                raise TransferError(f"no sender within {wait:g} s on port {sock.getsockname()[1]}")
        elif not receiver.finished:
            left = last_heard + give_up - now
            if left <= 0:
                raise TransferError(f"the sender went silent for {give_up:g} s after "
                                    f"{receiver.delivered_bytes} bytes")
        else:
            left = last_heard + linger - now
            if left <= 0:
                break
        if not select.select([sock], [], [], left)[0]:
            continue
        data, source = sock.recvfrom(MAX_DATAGRAM)
        got = decode(data)
        if peer is None and got is not None and got.kind == SYN:
            peer, first = source[:2], time.monotonic()
        if got is None or source[:2] != peer:
            continue
        last_heard = time.monotonic()
        if got.kind == BYE:
            if receiver.finished:
                break
            continue
        ack = receiver.receive(data)
        if ack is not None:
            sock.sendto(ack, peer)
        pieces += receiver.read()
        if receiver.finished and finished_at is None:
            finished_at = last_heard
    return Received(b"".join(pieces), receiver, peer, finished_at - first)


# --- the command line (given) -----------------------------------------------------------------

def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _window(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window (a whole number of datagrams, 1 or more)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (more than 0)")
    return value


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Reliable file transfer over UDP (exercise 12).")
    commands = parser.add_subparsers(dest="command", required=True)
    rx = commands.add_parser("receive", help="receive one file, write it to --out")
    rx.add_argument("--port", type=_port, required=True, help="the UDP port to receive on")
    rx.add_argument("--out", required=True, help="the file to write (only once it has arrived whole)")
    rx.add_argument("--host", default="0.0.0.0", help="the address to bind (default: all)")
    rx.add_argument("--wait", type=_seconds, default=60.0, help="give up if no sender comes (s, default 60)")
    rx.add_argument("--give-up", type=_seconds, default=10.0,
                    help="give up when the sender is silent this long (s, default 10)")
    rx.add_argument("--linger", type=_seconds, default=10.0,
                    help="after the end, answer retransmissions until the sender's BYE or this long a "
                         "silence (s, default 10)")
    tx = commands.add_parser("send", help="send one file")
    tx.add_argument("host", help="the receiver's address")
    tx.add_argument("port", type=_port, help="the receiver's UDP port")
    tx.add_argument("file", help="the file to send")
    tx.add_argument("--window", type=_window, default=8, help="datagrams in flight at most (default 8; 1: stop-and-wait)")
    tx.add_argument("--give-up", type=_seconds, default=10.0,
                    help="give up when nothing is acknowledged for this long (s, default 10)")
    tx.add_argument("--max-rto", type=_seconds, default=DEFAULT_MAX_RTO,
                    help=f"the cap on the retransmission timeout (s, default {DEFAULT_MAX_RTO:g})")
    return parser


def _receive(args) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((args.host, args.port))
        except OSError as exc:
            raise TransferError(f"cannot receive on UDP {args.host}:{args.port}: {exc.strerror}") from None
        print(f"receive: waiting for a sender on UDP {args.host}:{args.port}; {args.out} is written once it has all "
              "arrived (Ctrl-C to stop)", file=sys.stderr, flush=True)
        got = receive_bytes(sock, wait=args.wait, give_up=args.give_up, linger=args.linger)
    partial = f"{args.out}.part"
    try:
        with open(partial, "wb") as out:
            out.write(got.data)
        os.replace(partial, args.out)
    except OSError as exc:
        raise TransferError(f"cannot write {args.out}: {exc.strerror}") from None
    rx = got.receiver
    return (f"received {len(got.data)} bytes from {got.peer[0]}:{got.peer[1]} in {got.seconds:.2f} s: "
            f"{rx.datagrams} datagrams ({rx.duplicates} duplicates, {rx.out_of_order} out of order) -> {args.out}")


def _send(args) -> str:
    try:
        with open(args.file, "rb") as source:
            data = source.read()
    except OSError as exc:
        raise TransferError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        peer = (socket.gethostbyname(args.host), args.port)
    except OSError:
        raise TransferError(f"unknown host {args.host!r}") from None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        done = send_bytes(sock, peer, data, window=args.window, give_up=args.give_up,
                          timer=RttEstimator(max_rto=args.max_rto))
    tx = done.sender
    pieces = seq_diff(tx.next_seq, tx.isn) - 2
    return (f"sent {done.size} bytes to {peer[0]}:{peer[1]} in {done.seconds:.2f} s: {pieces} data datagrams, "
            f"{tx.transmissions} datagrams sent, {tx.retransmissions} retransmissions")


def main(argv: list[str] | None = None) -> int:
    """``receive --port P --out FILE`` or ``send HOST P FILE``; one summary line, exit 0; else one error line.

    The receiver also says, on stderr, that it is waiting (a user sees it
    is listening, and on which port)."""
    name = __spec__.name if __spec__ is not None and __spec__.name != "__main__" else "ex12_reliable"
    args = _parser(f"python -m {name}").parse_args(argv)
    try:
        print(_receive(args) if args.command == "receive" else _send(args), flush=True)
    except TransferError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    except NotImplementedError as exc:
        print(f"{args.command}: {exc} (exercise 12 is not finished)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The client side of a TCP connection kept by hand: what a kernel's TCB holds (sans-I/O).

When a program calls ``connect()``, the kernel keeps a *transmission control
block* (TCB, RFC 9293 section 3.3.1) for the connection: the initial sequence
numbers of both sides, ``SND.NXT`` (the sequence number of the next byte it
will send), ``SND.UNA`` (the oldest byte not yet acknowledged) and
``RCV.NXT`` (the next byte it expects, which is what it puts in the ACK
field).  Crafting packets by hand with scapy means keeping that block
yourself.  :class:`HandConnection` does it with plain numbers: it says what
the next segment must carry, and it updates itself from the segments that
arrive.  No sockets and no scapy here; lab/craft/endpoint.py puts the
segments on the wire.

The rules, each one from RFC 9293:

* a SYN and a FIN each *consume one sequence number*, like one byte of data
  (3.4): after the SYN with ISN ``x`` the first data byte is ``x + 1``, and
  the ACK of a FIN with sequence number ``y`` is ``y + 1``;
* the ACK field is the next byte expected: everything before it was received
  (3.4, "cumulative acknowledgment");
* sequence numbers are compared *modulo 2**32* (3.4): they wrap around.

Only what the lesson needs is kept: segments are accepted in order
(``seq == RCV.NXT``); a segment that arrives out of order is not queued but
answered with an ACK of ``RCV.NXT`` (the "duplicate ACK" of 3.10.7.4), and
nothing is retransmitted: on the kit's emulated network nothing is lost
unless a lesson asks for loss.

>>> c = HandConnection(("10.77.1.2", 61000), ("10.77.0.2", 5050), isn=1000)
>>> c.syn()
Outgoing(flags='S', seq=1000, ack=0, payload=b'')
>>> c.receive(Seen("SA", seq=5000, ack=1001))
[Outgoing(flags='A', seq=1001, ack=5001, payload=b'')]
>>> c.state, c.relative_ack(c.rcv_nxt)
('ESTABLISHED', 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

MOD = 2**32
HALF = 2**31


def seq_add(a: int, n: int) -> int:
    """``a + n`` in sequence space (modulo 2**32)."""
    return (a + n) % MOD


def seq_diff(a: int, b: int) -> int:
    """How far ``a`` is after ``b`` in sequence space: negative when before (RFC 9293 3.4).

    >>> seq_diff(5, 2**32 - 3)
    8
    """
    d = (a - b) % MOD
    return d - MOD if d >= HALF else d


def consumed(flags: str, length: int) -> int:
    """How many sequence numbers a segment uses: its data, plus one for a SYN, plus one for a FIN.

    >>> consumed("S", 0), consumed("PA", 9), consumed("FA", 0)
    (1, 9, 1)
    """
    return length + ("S" in flags) + ("F" in flags)


@dataclass(frozen=True)
class Seen:
    """The fields of one arriving segment that a TCB looks at (scapy's flag letters)."""

    flags: str
    seq: int
    ack: int = 0
    payload: bytes = b""
    window: int = 0

    @classmethod
    def of(cls, segment) -> "Seen":
        """From a lab.capture Segment (flags as bits) or anything with the same fields."""
        from lab.capture.decode import flag_letters

        flags = segment.flags if isinstance(segment.flags, str) else scapy_letters(flag_letters(segment.flags))
        return cls(flags, segment.seq, segment.ack, bytes(segment.payload), segment.window)


def scapy_letters(lab_letters: str) -> str:
    """The kit writes flags SAFRPUEC (SYN first); scapy writes them FSRPAUEC.  ``"SA"`` stays ``"SA"``.

    >>> scapy_letters("AFP"), scapy_letters("AR")
    ('FPA', 'RA')
    """
    return "".join(letter for letter in "FSRPAUEC" if letter in lab_letters)


@dataclass(frozen=True)
class Outgoing:
    """A segment to send: scapy's flag letters, sequence and acknowledgement numbers, data."""

    flags: str
    seq: int
    ack: int = 0
    payload: bytes = b""


@dataclass
class HandConnection:
    """A TCP connection's client side, kept by hand (see the module docstring).

    ``state`` follows RFC 9293's names: CLOSED, SYN-SENT, ESTABLISHED,
    FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK, and
    RESET when the peer sent an acceptable RST.  ``received`` is every data
    byte accepted, in order.
    """

    local: tuple[str, int]
    remote: tuple[str, int]
    isn: int
    state: str = "CLOSED"
    snd_nxt: int = 0
    snd_una: int = 0
    rcv_nxt: int = 0
    peer_isn: int | None = None
    peer_window: int = 0
    received: bytearray = field(default_factory=bytearray)
    notes: list[str] = field(default_factory=list)
    _fin_sent: bool = False
    _fin_seq: int | None = None

    # -- what to send ---------------------------------------------------------------
    def syn(self) -> Outgoing:
        """The SYN that opens the connection: ``seq = ISN`` (it will consume one number)."""
        if self.state != "CLOSED":
            raise ValueError(f"a SYN opens a connection; this one is {self.state}")
        self.state = "SYN-SENT"
        self.snd_una = self.isn
        self.snd_nxt = seq_add(self.isn, 1)
        return Outgoing("S", self.isn)

    def send(self, data: bytes) -> Outgoing:
        """A data segment: ``seq = SND.NXT``, ``ack = RCV.NXT``; SND.NXT moves on by ``len(data)``."""
        if self.state not in ("ESTABLISHED", "CLOSE-WAIT"):
            raise ValueError(f"data can be sent once the connection is established; it is {self.state}")
        if not data:
            raise ValueError("a data segment carries at least one byte")
        out = Outgoing("PA", self.snd_nxt, self.rcv_nxt, bytes(data))
        self.snd_nxt = seq_add(self.snd_nxt, len(data))
        return out

    def ack(self) -> Outgoing:
        """A bare ACK of everything received so far."""
        return Outgoing("A", self.snd_nxt, self.rcv_nxt)

    def close(self) -> Outgoing:
        """The FIN: ``seq = SND.NXT``; like a byte of data, it consumes one sequence number."""
        if self.state not in ("ESTABLISHED", "CLOSE-WAIT"):
            raise ValueError(f"a FIN closes an open connection; this one is {self.state}")
        out = Outgoing("FA", self.snd_nxt, self.rcv_nxt)
        self._fin_seq = self.snd_nxt
        self.snd_nxt = seq_add(self.snd_nxt, 1)
        self._fin_sent = True
        self.state = "FIN-WAIT-1" if self.state == "ESTABLISHED" else "LAST-ACK"
        return out

    # -- what arrives -----------------------------------------------------------------
    def receive(self, seg: Seen) -> list[Outgoing]:
        """Take in one segment from the peer; return what a correct TCP answers (maybe nothing)."""
        if "R" in seg.flags:
            return self._reset(seg)
        if self.state == "SYN-SENT":
            return self._syn_ack(seg)
        if self.state in ("CLOSED", "RESET"):
            return []
        answers: list[Outgoing] = []
        if "A" in seg.flags:
            self._acknowledged(seg.ack)
        self.peer_window = seg.window
        length = consumed(seg.flags, len(seg.payload))
        if length == 0:
            return answers
        if seg.seq != self.rcv_nxt:
            # Not the next byte expected: not queued here; the ACK says what is expected.
            self.notes.append(f"segment with relative seq {self.relative_seq_in(seg.seq)} arrived while "
                              f"{self.relative_seq_in(self.rcv_nxt)} was expected: answered with a duplicate ACK")
            return [self.ack()]
        self.received += seg.payload
        self.rcv_nxt = seq_add(self.rcv_nxt, length)
        if "F" in seg.flags:
            self.state = {"ESTABLISHED": "CLOSE-WAIT", "FIN-WAIT-1": "CLOSING",
                          "FIN-WAIT-2": "TIME-WAIT"}.get(self.state, self.state)
        return [self.ack()]

    def _syn_ack(self, seg: Seen) -> list[Outgoing]:
        if "S" not in seg.flags or "A" not in seg.flags:
            self.notes.append(f"in SYN-SENT a {seg.flags} segment was ignored (a SYN-ACK was expected)")
            return []
        if seg.ack != self.snd_nxt:
            # RFC 9293 3.10.7.3: an unacceptable ACK in SYN-SENT is answered with a reset.
            self.notes.append(f"the SYN-ACK acknowledged {seg.ack}, not ISN+1 = {self.snd_nxt}")
            return [Outgoing("R", seg.ack)]
        self.peer_isn = seg.seq
        self.rcv_nxt = seq_add(seg.seq, 1)
        self.snd_una = seg.ack
        self.peer_window = seg.window
        self.state = "ESTABLISHED"
        return [self.ack()]

    def _acknowledged(self, ack: int) -> None:
        if 0 < seq_diff(ack, self.snd_una) <= seq_diff(self.snd_nxt, self.snd_una):
            self.snd_una = ack
        if self._fin_sent and self._fin_seq is not None and seq_diff(ack, self._fin_seq) >= 1:
            self.state = {"FIN-WAIT-1": "FIN-WAIT-2", "CLOSING": "TIME-WAIT", "LAST-ACK": "CLOSED"}.get(
                self.state, self.state)

    def _reset(self, seg: Seen) -> list[Outgoing]:
        # RFC 5961 3.2 (what Linux does): only an RST whose seq is exactly RCV.NXT resets.
        if self.state == "SYN-SENT" or seg.seq == self.rcv_nxt:
            self.state = "RESET"
        return []

    # -- numbers a student can read ----------------------------------------------------
    def relative_seq(self, n: int) -> int:
        """``n`` relative to this side's ISN (Wireshark's relative seq of what we send)."""
        return seq_diff(n, self.isn)

    def relative_seq_in(self, n: int) -> int:
        """``n`` relative to the peer's ISN (the relative seq of what the peer sends)."""
        return seq_diff(n, self.peer_isn if self.peer_isn is not None else n)

    def relative_ack(self, n: int) -> int:
        """An ACK number we send, relative to the peer's ISN."""
        return self.relative_seq_in(n)

    @property
    def lines(self) -> list[str]:
        """The complete CRLF-terminated lines received so far (the server always sends CRLF)."""
        text = bytes(self.received).decode("utf-8", "replace")
        return text.split("\r\n")[:-1]

"""Exercise 6: the UDP chat -- datagrams, no connection, counting loss.

What you learn
--------------
UDP (``SOCK_DGRAM``) sends *datagrams*: each ``sendto(data, address)`` is
one message that arrives whole, or not at all.  There is no connection: no
``listen``, no ``accept``, no handshake, no FIN.  A UDP server binds a port
and calls ``recvfrom``, which returns one datagram and the address
``(ip, port)`` it came from; it answers with ``sendto(data, address)``.
It knows its "clients" only as the addresses it has heard from.

UDP promises nothing more: datagrams may be lost, duplicated or arrive out
of order, and nobody tells you.  To *see* loss, the sender numbers its
datagrams 0, 1, 2, ... and the receiver looks at the numbers it got:
numbers never seen are lost, numbers seen twice are duplicates, and a number
smaller than one already seen arrived out of order.

The numbers show a gap only when a later datagram arrives: datagrams lost
at the very *end* of a run (after the highest number the receiver saw)
leave no trace at all.  Only the sender knows how many it sent, so it must
say so -- RTP's receivers learn it from the sender's reports (RTCP, RFC
3550) -- and the receiver counts the tail as lost once it knows.

Errors are scarce too.  A host that receives a datagram for a port nobody
uses answers with an ICMP "port unreachable" message.  On Linux only a
*connected* UDP socket (one on which you called ``connect``) hears of it,
as ``ConnectionRefusedError`` raised by a later ``send`` or ``recv``; an
unconnected socket such as the relay's below never does (unless it sets
the ``IP_RECVERR`` option).  Without a reply from the other side, silence
is all a UDP sender gets.

The datagram format of this exercise (simpler than ``chatlab server --udp``)::

    SEQ SP TEXT          e.g.  b"41 hello everyone"   (UTF-8)

What to write
-------------
``encode_datagram``, ``decode_datagram``, ``LossCounter.add`` and its
``lost`` property, ``send_numbered``, and ``UdpRelay.start`` / ``_relay``.
``LossCounter.sender_sent`` is given.
Try the relay with two terminals running ``nc -u 127.0.0.1 PORT``::

    python -m exercises.ex06_udp 5051
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Iterable

#: The largest datagram this chat sends or reads (it fits in one Ethernet frame).
MAX_DATAGRAM = 1200


def encode_datagram(seq: int, text: str) -> bytes:
    """The datagram for message number SEQ: ``b"SEQ TEXT"``, UTF-8.

    >>> encode_datagram(7, "héllo")
    b'7 h\\xc3\\xa9llo'
    """
    ### BEGIN SOLUTION
    return f"{seq} {text}".encode("utf-8")
    ### END SOLUTION


def decode_datagram(data: bytes) -> tuple[int, str]:
    """The (seq, text) of a datagram made by ``encode_datagram``.

    Raise ``ValueError`` when DATA is not ``b"SEQ TEXT"`` with SEQ a
    non-negative decimal number (a datagram from anyone can reach your
    port: never trust it).  Decode the text with ``errors="replace"``.
    """
    ### BEGIN SOLUTION
    head, sep, rest = data.partition(b" ")
    if not sep or not head.isdigit():
        raise ValueError(f"not a numbered datagram: {data[:40]!r}")
    return int(head), rest.decode("utf-8", errors="replace")
    ### END SOLUTION


class LossCounter:
    """Counts what happened to numbered datagrams (numbered from 0 by the sender)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()  # the distinct numbers received
        self.highest = -1  # the highest number received so far
        self.duplicates = 0  # datagrams whose number was already seen
        self.reordered = 0  # datagrams whose number is lower than one seen before them
        self.sent: int | None = None  # how many datagrams the sender says it sent, once it said so

    def add(self, seq: int) -> None:
        """Record that datagram number SEQ arrived.

        - already in ``seen``: one more duplicate, nothing else changes;
        - else, lower than ``highest``: it arrived out of order (``reordered``);
        - add it to ``seen`` and update ``highest``.
        """
        ### BEGIN SOLUTION
        if seq in self.seen:
            self.duplicates += 1
            return
        if seq < self.highest:
            self.reordered += 1
        self.seen.add(seq)
        self.highest = max(self.highest, seq)
        ### END SOLUTION

    @property
    def received(self) -> int:
        """How many distinct datagrams arrived."""
        return len(self.seen)

    def sender_sent(self, count: int) -> None:
        """The sender says it sent COUNT datagrams, numbered 0 to COUNT - 1."""
        self.sent = count

    @property
    def lost(self) -> int:
        """How many datagrams never arrived.

        Once the sender said how many it sent (``self.sent`` is not None):
        how many of the numbers 0 .. sent - 1 never arrived, the ones after
        the highest number seen included.  Before that, all the receiver
        can know: how many of 0 .. highest never arrived.
        """
        ### BEGIN SOLUTION
        if self.sent is None:
            return self.highest + 1 - len(self.seen)
        return sum(1 for seq in range(self.sent) if seq not in self.seen)
        ### END SOLUTION


def send_numbered(sock: socket.socket, address: tuple[str, int], texts: Iterable[str], first: int = 0) -> int:
    """Send each text as one numbered datagram to ADDRESS; return the next number.

    Number them FIRST, FIRST + 1, ... with ``encode_datagram`` and send each
    with ``sock.sendto``.  SOCK is a UDP socket; there is no connect(), no
    handshake: the first datagram is simply sent.
    """
    ### BEGIN SOLUTION
    seq = first
    for text in texts:
        sock.sendto(encode_datagram(seq, text), address)
        seq += 1
    return seq
    ### END SOLUTION


class UdpRelay:
    """A UDP chat server: every datagram is passed on to every other known address."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.sock: socket.socket | None = None
        #: The addresses heard from so far, in order: UDP's only idea of "clients".
        self.peers: list[tuple[str, int]] = []
        self.thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    def start(self) -> None:
        """Bind a UDP socket to (self.host, self.port) and run ``_relay`` in a daemon thread.

        No ``listen``, no ``accept``: a bound UDP socket is ready to receive.
        Keep the socket in ``self.sock`` and the thread in ``self.thread``;
        return at once.
        """
        ### BEGIN SOLUTION
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, self.port))
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._relay, name="udp-relay", daemon=True)
        self.thread.start()
        ### END SOLUTION

    def _relay(self) -> None:
        """Receive datagrams for ever and pass each one on.

        For each ``data, address = self.sock.recvfrom(MAX_DATAGRAM)``: add
        ADDRESS to ``self.peers`` if it is new, then ``sendto`` DATA,
        unchanged, to every other address in ``self.peers``.  Return when
        ``recvfrom`` raises ``OSError`` (``stop`` closed the socket).
        """
        ### BEGIN SOLUTION
        while True:
            try:
                data, address = self.sock.recvfrom(MAX_DATAGRAM)
            except OSError:
                return
            if address not in self.peers:
                self.peers.append(address)
            for peer in self.peers:
                if peer != address:
                    try:
                        self.sock.sendto(data, peer)
                    except OSError:
                        # e.g. no route to that address.  An ICMP "port unreachable" from a
                        # peer that went away is NOT reported here: this socket is not connected.
                        pass
        ### END SOLUTION

    def stop(self) -> None:
        """Close the socket (which ends ``_relay``) and wait for the thread."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes recvfrom() on Linux
            except OSError:
                pass
            self.sock.close()
        if self.thread is not None:
            self.thread.join(1.0)


if __name__ == "__main__":
    relay = UdpRelay("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5051)
    relay.start()
    print(f"UDP relay on {relay.address[0]}:{relay.address[1]}; Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        relay.stop()

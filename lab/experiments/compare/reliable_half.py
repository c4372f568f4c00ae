"""The third row of the experiment (I/O): the same messages over UDP, made reliable by the kit's reference
transfer (lab/udp/reliable.py, exercise 12's algorithm: Go-Back-N, cumulative ACKs, RFC 6298's timer).

The sender sends each scripted message as one DATA datagram, at the same
pace as the other two rows; the receiver delivers them in order, each once,
and the experiment notes when.  The datagrams cross the lossy path twice,
as the chat's do (sender -> the server's host -> receiver): the server's host
runs a plain forwarder in place of the chat server, and the reliability is
end to end, between sender and receiver (where TCP repairs each of its two
connections on its own).  One thread does everything (pacing, both
endpoints, the timer), on one clock.
"""

from __future__ import annotations

import random
import socket
import time
from typing import Callable

from lab.experiments.compare.accounting import DeliveryAccount, message_text, text_index
from lab.net.rto import RttEstimator
from lab.udp.reliable import DEFAULT_MAX_RTO, Receiver, ReceiverSocket, Sender, SenderSocket, readable

RELIABLE_WINDOW = 32
"""Datagrams in flight at most.  Go-Back-N resends the whole window on each timeout: a bigger window
fills more gaps per round (fewer timeouts) and resends more.  Measured in the simulation of
tests/udp/test_reliable.py at 36 % loss per datagram (20 % per crossing, two crossings), 200
messages: median 32 s with a window of 8, 16 s with 32."""

RELIABLE_DRAIN_TIMEOUT = 90.0  # after the last message: how long the transfer may take to repair everything
HANDSHAKE_TIMEOUT = 10.0  # the SYN and its ACK, on the clean network


def run_reliable_half(sender_sock: socket.socket, receiver_sock: socket.socket, target: tuple[str, int],
                      messages: int, interval: float, set_loss: Callable[[bool], None],
                      seed: int | None = None) -> dict:
    """The scripted messages, sender_sock -> TARGET (the path) -> receiver_sock. Returns the row's result dict.

    The SYN is exchanged on a clean network; ``set_loss(True)`` then switches
    the loss on while the messages are sent and repaired, ``set_loss(False)``
    off again for the FIN.  ``seed`` picks the initial sequence number.
    """
    timer = RttEstimator(max_rto=DEFAULT_MAX_RTO)
    sender = Sender(isn=random.Random(seed).randrange(2**32), window=RELIABLE_WINDOW, timer=timer)
    tx = SenderSocket(sender_sock, target, sender)
    rx = ReceiverSocket(receiver_sock, Receiver(window=max(64, RELIABLE_WINDOW)))
    account = DeliveryAccount()

    def step(until: float) -> None:
        """Serve both sockets and the timer until UNTIL (or the first datagram)."""
        now = time.monotonic()
        wait = until - now if sender.deadline is None else min(until, sender.deadline) - now
        for sock in readable([sender_sock, receiver_sock], wait):
            if sock is receiver_sock:
                for payload in rx.on_readable():
                    index = text_index(payload.decode("ascii", "replace"))
                    if index is not None:
                        account.arrived(index, time.monotonic())
            else:
                tx.on_readable(time.monotonic())
        tx.pump(time.monotonic())

    tx.pump(time.monotonic())
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    while not sender.established:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the reliable transfer's SYN was not answered within {HANDSHAKE_TIMEOUT:g} s")
        step(deadline)
    handshake = {"transmissions": sender.transmissions, "srtt_ms": _ms(timer.srtt)}
    set_loss(True)
    try:
        start = time.monotonic()
        for i in range(1, messages + 1):
            due = start + (i - 1) * interval
            while time.monotonic() < due:
                step(due)
            account.sent(i, time.monotonic())
            sender.send(message_text(i).encode("ascii"))
            tx.pump(time.monotonic())
        end = time.monotonic() + RELIABLE_DRAIN_TIMEOUT
        while not account.complete and time.monotonic() < end:
            step(end)
        during = {"transmissions": sender.transmissions, "retransmissions": sender.retransmissions,
                  "rto_ms": _ms(timer.rto), "srtt_ms": _ms(timer.srtt)}
    finally:
        set_loss(False)
    sender.close()
    end = time.monotonic() + HANDSHAKE_TIMEOUT
    while not sender.done and time.monotonic() < end:
        step(end)
    if sender.done:
        tx.say_bye()
    result = account.result()
    receiver = rx.receiver
    result.update({
        "in_order": result["out_of_order"] == 0 and result["duplicated"] == 0,
        "window": RELIABLE_WINDOW,
        "retransmissions": sender.retransmissions,
        "datagrams_sent": {"sender": sender.transmissions, "receiver": rx.acks_sent},
        "during_messages": during,
        "handshake": handshake,
        "at_receiver": {"datagrams": receiver.datagrams, "duplicates": receiver.duplicates,
                        "out_of_order": receiver.out_of_order},
        "closed": sender.done,
    })
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)

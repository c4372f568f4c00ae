"""The UDP half of the experiment (I/O): the scripted chat over the lab's UdpChatServer."""

from __future__ import annotations

import time
from typing import Callable

from lab.experiments.compare.accounting import PORT, RECEIVER, SENDER, DeliveryAccount, message_index, message_text

UDP_DRAIN_TIME = 1.0  # after the last UDP message: nothing will be repaired, just let stragglers in


def run_udp_half(server_ns: Callable, client_ns: Callable[[int], Callable], server_host: str,
                 messages: int, interval: float, set_loss: Callable[[bool], None],
                 port: int = PORT, server_address: tuple[str, int] | None = None) -> dict:
    """The scripted chat over UDP with the lab's UdpChatServer. Returns the UDP result dict.

    ``server_address``, when given, is where clients send (e.g. a relay)
    instead of the server's own address.
    """
    from lab.udp import UdpChatClient, UdpChatServer

    with server_ns():
        # The flood limit is lifted, as for TCP: the experiment measures the network.
        server = UdpChatServer(server_host, port, rate=1e6, burst=10**6).start()
    clients = []
    try:
        target = server_address or server.address
        with client_ns(2):
            receiver = UdpChatClient(target, RECEIVER)
        clients.append(receiver)
        with client_ns(1):
            sender = UdpChatClient(target, SENDER)
        clients.append(sender)
        receiver.join()
        sender.join()
        account = DeliveryAccount()
        seen = 0

        def take() -> None:
            nonlocal seen
            receiver.poll(0)
            for t, line in receiver.received[seen:]:
                index = message_index(line)
                if index is not None:
                    account.arrived(index, t)
            seen = len(receiver.received)

        set_loss(True)
        try:
            start = time.monotonic()
            for i in range(1, messages + 1):
                # Receive while we wait for the next send time, so arrival
                # times are accurate (same thread, same clock).
                while time.monotonic() < start + (i - 1) * interval:
                    receiver.poll(max(0.0, start + (i - 1) * interval - time.monotonic()))
                take()
                account.sent(i, time.monotonic())
                sender.send(message_text(i))
            end = time.monotonic() + UDP_DRAIN_TIME
            while time.monotonic() < end and not account.complete:
                receiver.poll(0.05)
                take()
        finally:
            set_loss(False)
        take()
        tracker = receiver.core.origins.get(SENDER)
        upstream = next((m for m in server.core.members.values() if m.name == SENDER), None)
        for c in clients:
            c.send("/quit")
    finally:
        for c in clients:
            c.close()
        server.stop()
    result = account.result()
    result["sequence_numbers"] = {
        "at_receiver": tracker.to_dict() if tracker else None,
        "at_server": upstream.upstream.to_dict() if upstream else None,
    }
    return result

"""The UDP half of the experiment (I/O): the scripted chat over the lab's UdpChatServer.

Also the lossy UDP relay on loopback that stands in for the router without root.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Callable

from lab.experiments.compare.accounting import (PORT, RECEIVER, SENDER, DeliveryAccount, LossDecision, message_index,
                                    message_text)

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


class LossyUdpRelay:
    """A UDP relay on loopback that drops a seeded random share of datagrams, both ways.

    Clients send to ``address``; for each client the relay uses its own
    upstream socket, so the server still sees one address per client.
    """

    def __init__(self, server: tuple[str, int], loss: float, seed: int | None, host: str = "127.0.0.1"):
        self.server = server
        self.loss, self.seed = loss, seed
        self._decisions: dict[str, LossDecision] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = self.sock.getsockname()
        self.enabled = False
        self._up: dict[tuple, socket.socket] = {}
        self._down: dict[socket.socket, tuple] = {}
        self._order: dict[tuple, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lossy-relay", daemon=True)
        self._thread.start()

    @property
    def decisions(self) -> int:
        return sum(d.decisions for d in self._decisions.values())

    @property
    def drops(self) -> int:
        return sum(d.drops for d in self._decisions.values())

    def _maybe(self, sock: socket.socket, data: bytes, to: tuple, flow: str) -> None:
        if self.enabled:
            decide = self._decisions.setdefault(flow, LossDecision(self.loss, self.seed, flow))
            if decide.drop():
                return
        try:
            sock.sendto(data, to)
        except OSError:
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock, *self._down], [], [], 0.1)
            for s in ready:
                try:
                    data, source = s.recvfrom(65535)
                except OSError:
                    continue
                if s is self.sock:
                    up = self._up.get(source)
                    if up is None:
                        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        up.bind((self.address[0], 0))
                        self._up[source], self._down[up] = up, source
                        self._order[source] = len(self._order)  # clients numbered as they appear
                    self._maybe(up, data, self.server, f"{self._order[source]}:up")
                else:
                    self._maybe(self.sock, data, self._down[s], f"{self._order[self._down[s]]}:down")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for s in [self.sock, *self._down]:
            s.close()

"""A lossy path on loopback (I/O): a UDP relay that drops, duplicates, reorders and delays datagrams, seeded.

It stands in for the emulated network's router where there is no root
(``chatlab compare`` on a laptop), and it is the lossy path of exercise 12's
graded runs.  What happens to each datagram is decided by
:class:`~lab.experiments.compare.accounting.PathDecision`, one seeded
generator per flow, so the same seed gives the same fates.  What can still
differ from run to run is timing: which datagram is the n-th of its flow
depends on when the endpoints send (a retransmission timer that fires early
under CPU load shifts the ones after it).
"""

from __future__ import annotations

import heapq
import itertools
import select
import socket
import threading
import time

from lab.experiments.compare.accounting import Impairments, PathDecision

_MAX_UDP = 65535


class LossyUdpRelay:
    """A UDP relay on loopback between clients and one server, impairing datagrams both ways.

    Clients send to ``address``; the relay gives each client its own
    upstream socket towards ``server``, so the server sees one address per
    client, and passes the server's answers back down.  While ``enabled``,
    every datagram meets the ``impairments`` (a share is dropped, duplicated,
    held back so later ones overtake it, all delayed), decided per flow
    ("0:up" is the first client's traffic to the server, "0:down" the
    server's answers to it) by generators seeded with ``seed`` and ``name``
    (two relays with the same seed and different names decide differently).
    While not enabled it forwards everything at once, untouched.

    ``impairments`` may be a number: the loss in percent, nothing else.
    ``host`` and ``port`` are where it listens (port 0: any free one).
    With ``record=True`` every datagram reaching the relay is kept in
    ``record`` as ``(flow, bytes)``, in order of arrival (tests read it).
    The server need not be listening yet: what is sent to a closed port is
    lost, as on a network (the relay's sockets are not connected, so Linux
    reports no ICMP error to them).
    """

    def __init__(self, server: tuple[str, int], impairments: Impairments | float, seed: int | None,
                 host: str = "127.0.0.1", name: str = "", enabled: bool = False, record: bool = False,
                 port: int = 0):
        if not isinstance(impairments, Impairments):
            impairments = Impairments(loss=impairments)
        self.server = server
        self.impairments, self.seed, self.name = impairments, seed, name
        self.enabled = enabled
        self.record: list[tuple[str, bytes]] | None = [] if record else None
        self._decisions: dict[str, PathDecision] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.address = self.sock.getsockname()
        self._up: dict[tuple, socket.socket] = {}
        self._down: dict[socket.socket, tuple] = {}
        self._order: dict[tuple, int] = {}
        self._due: list[tuple[float, int, socket.socket, bytes, tuple]] = []  # a heap: (when, tie, sock, data, to)
        self.passed = 0  # copies handed to the kernel (a duplicated datagram counts twice)
        self._tie = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lossy-relay", daemon=True)
        self._thread.start()

    @property
    def loss(self) -> float:
        """The percentage of datagrams dropped, each way (the impairments' loss)."""
        return self.impairments.loss

    def _total(self, counter: str) -> int:
        return sum(getattr(d, counter) for d in list(self._decisions.values()))

    @property
    def held(self) -> int:
        """Datagrams held back (delayed), not passed on yet."""
        return len(self._due)

    @property
    def decisions(self) -> int:
        """Datagrams that met the impairments (the relay was enabled)."""
        return self._total("decisions")

    @property
    def drops(self) -> int:
        """Datagrams dropped so far, every flow and both directions."""
        return self._total("drops")

    @property
    def duplicates(self) -> int:
        """Datagrams passed on twice so far, every flow and both directions."""
        return self._total("duplicates")

    @property
    def reordered(self) -> int:
        """Datagrams held back so that later ones overtook them, so far."""
        return self._total("reordered")

    def stats(self) -> dict:
        """Per flow and in total: datagrams decided, dropped, duplicated, reordered."""
        flows = {flow: {"datagrams": d.decisions, "dropped": d.drops, "duplicated": d.duplicates,
                        "reordered": d.reordered} for flow, d in sorted(list(self._decisions.items()))}
        total = {"datagrams": self.decisions, "dropped": self.drops, "duplicated": self.duplicates,
                 "reordered": self.reordered}
        return {"flows": flows, **total}

    def _forward(self, sock: socket.socket, data: bytes, to: tuple, flow: str, now: float) -> None:
        if self.record is not None:
            self.record.append((flow, data))
        if not self.enabled:
            self._send(sock, data, to)
            return
        decide = self._decisions.get(flow)
        if decide is None:
            decide = self._decisions[flow] = PathDecision(self.impairments, self.seed, f"{self.name}{flow}")
        fate = decide.next()
        for _ in range(fate.copies):
            if fate.delay > 0:
                heapq.heappush(self._due, (now + fate.delay, next(self._tie), sock, data, to))
            else:
                self._send(sock, data, to)

    def _send(self, sock: socket.socket, data: bytes, to: tuple) -> None:
        try:
            sock.sendto(data, to)
        except OSError:
            return  # e.g. the socket was closed by close(): the datagram is lost, as on a network
        self.passed += 1

    def _upstream(self, client: tuple) -> socket.socket:
        up = self._up.get(client)
        if up is None:
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.bind((self.address[0], 0))
            self._up[client], self._down[up] = up, client
            self._order[client] = len(self._order)  # clients numbered as they appear
        return up

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, sock, data, to = heapq.heappop(self._due)
                self._send(sock, data, to)
            wait = min(0.1, self._due[0][0] - now) if self._due else 0.1
            try:
                ready, _, _ = select.select([self.sock, *self._down], [], [], max(0.0, wait))
            except (OSError, ValueError):
                return  # closed under us
            now = time.monotonic()
            for s in ready:
                try:
                    data, source = s.recvfrom(_MAX_UDP)
                except OSError:
                    continue
                if s is self.sock:
                    up = self._upstream(source)
                    self._forward(up, data, self.server, f"{self._order[source]}:up", now)
                else:
                    client = self._down[s]
                    self._forward(self.sock, data, client, f"{self._order[client]}:down", now)

    def close(self) -> None:
        """Stop forwarding (datagrams still held back are lost) and close every socket."""
        self._stop.set()
        self._thread.join(2)
        for s in [self.sock, *self._down]:
            s.close()

    def __enter__(self) -> "LossyUdpRelay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

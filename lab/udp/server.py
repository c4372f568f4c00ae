"""The UDP chat server with its socket and thread: ``UdpChatServer`` owns one
UDP socket and one thread and lets ``UdpChatCore`` decide everything.
`chatlab server --udp` (lab/commands/server.py) runs it until Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Callable

from lab.chat import limits
from lab.chat.room import Room
from lab.net.addresses import Address
from lab.net.sockopts import family_for
from lab.udp.server_core import IDLE_TIMEOUT, Outgoing, UdpChatCore


# --- the server: socket and thread --------------------------------------------

class UdpChatServer:
    """The UDP chat server: one socket, one thread, the ``UdpChatCore`` decides.

    ``start()`` returns once the socket is bound; ``address`` is (host, port);
    ``stop()`` tells the members and closes the socket.  ``on_event(kind,
    address, detail)`` is called for joins and leaves (from the server thread).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = limits.DEFAULT_PORT, *,
                 idle_timeout: float = IDLE_TIMEOUT, history: int = limits.HISTORY_SIZE,
                 rate: float = limits.RATE_LINES_PER_S, burst: int = limits.BURST_LINES,
                 max_members: int = limits.MAX_CLIENTS,
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
        """The (host, port) the socket is bound to."""
        assert self.sock is not None, "start() first"
        return self.sock.getsockname()[:2]

    def start(self) -> "UdpChatServer":
        """Bind the socket and start the server thread; OSError if the port cannot be bound."""
        self.sock = socket.socket(family_for(self.host), socket.SOCK_DGRAM)
        try:
            self.sock.bind((self.host, self.port))
        except OSError:
            self.sock.close()
            raise
        self._thread = threading.Thread(target=self._loop, name="udp-chat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Tell the members the server is stopping, stop the thread, close the socket."""
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

"""The UDP chat clients with their sockets: ``UdpChatClient`` is the scripted
client (tests, compare, notebooks) and ``UdpTerminalClient`` the one a person
uses (`chatlab client --udp`, launched from lab/commands/client.py), with the
same terminal as the TCP client (lab/terminal.py).  Both let
``UdpClientCore`` decide.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any, Callable

from lab import lifecycle as ev
from lab.chat import limits
from lab.chat.client_core import LineView
from lab.net.sockopts import family_for
from lab.terminal import ClientError, Screen, TerminalSession, render_line
from lab.udp.client_core import UdpClientCore
from lab.udp.datagrams import KEEPALIVE

KEEPALIVE_INTERVAL = limits.UDP_KEEPALIVE_INTERVAL_S
"""The client sends ``K`` when it has sent nothing for this long (3 per idle timeout)."""


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
        self.sock = sock or socket.socket(family_for(server[0]), socket.SOCK_DGRAM)
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
        """Send one numbered line."""
        self._send(self.core.line(text))

    def keepalive(self) -> None:
        """Send a keepalive datagram."""
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

    def expect(self, needle: str, timeout: float = 10.0) -> str:
        """Wait up to ``timeout`` for a line containing ``needle`` (received before or after the call); return it.

        AssertionError (with the lines seen) if none comes: for tests and notebooks.
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines(0.0):
                if needle in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.core.name} never saw {needle!r}; got {self.lines()}")
            self.poll(min(remaining, 0.1))

    def lines(self, timeout: float = 0.0) -> list[str]:
        """Every server line received so far, after waiting up to ``timeout`` for more."""
        self.poll(timeout)
        return [line for _, line in self.received]

    def close(self) -> None:
        """Close the socket (UDP sends nothing: the server notices by the idle timeout, or /quit)."""
        self.sock.close()


# --- the client a person uses -----------------------------------------------------

class UdpTerminalClient(TerminalSession):
    """`chatlab client --udp`: join, then chat from a terminal like the TCP client.

    ``connect()`` makes the socket, ``register(ask_name, name)`` resends the join
    until the welcome (any datagram may be lost) and shows the welcome and
    history, ``run(interactive)`` chats until /quit, Ctrl-C, the end of
    input or the server's goodbye, and returns the exit status.  Lost,
    duplicated and reordered lines are counted and reported at the end.
    """

    quit_wait_s = 3 * limits.UDP_JOIN_INTERVAL_S  # the bye is one datagram: it comes at once or never

    def __init__(self, host: str, port: int, *, console: Any, log: ev.EventLog,
                 keepalive: float = KEEPALIVE_INTERVAL, join_attempts: int = limits.UDP_JOIN_ATTEMPTS,
                 join_interval: float = limits.UDP_JOIN_INTERVAL_S):
        super().__init__()
        self.host, self.port = host, port
        self.console = console
        self.log = log
        self.keepalive = keepalive
        self.join_attempts = join_attempts
        self.join_interval = join_interval
        self.sock: socket.socket | None = None
        self.peer: tuple = (host, port)
        self.core: UdpClientCore | None = None
        self.view = LineView()
        self._send_lock = threading.Lock()
        self._last_sent = time.monotonic()
        self._done = threading.Event()

    def connect(self) -> None:
        """Resolve the host and make the socket; ClientError if the host is unknown."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except socket.gaierror:
            raise ClientError(f"cannot find the host {self.host!r}: check the name or use its IP address")
        family, _, _, _, self.peer = infos[0]
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        # connect() on UDP sends nothing: it only fixes the peer, so recv() gets
        # datagrams from the server alone and an ICMP "port unreachable" shows up
        # as ConnectionRefusedError, the only sign that nobody is listening.
        self.sock.connect(self.peer)
        local = self.sock.getsockname()
        self.log.emit(ev.Note(side="client", text=(
            f"UDP socket {ev.fmt_addr(local)} -> {ev.fmt_addr(self.peer)}: connect() on UDP sends nothing, it "
            f"only fixes the peer; {local[1]} is the ephemeral port the OS chose")))

    def register(self, ask_name: Callable[[str], str | None], name: str | None = None) -> str:
        """Join the chat (asking for a name when needed); return the name.  ClientError if it fails."""
        if name is None:
            name = ask_name("")
            if name is None:
                raise ClientError("no name chosen")
        self.core = UdpClientCore(name)
        self.console.print(f"joining udp {ev.fmt_addr(self.peer)} as {name} ...", style="dim")
        for _ in range(self.join_attempts):
            self._send(self.core.join_datagram())
            deadline = time.monotonic() + self.join_interval
            while time.monotonic() < deadline and not self.core.joined and not self.core.refused:
                if not self._receive_some(deadline - time.monotonic(), self.console.print):
                    raise ClientError(f"nothing listens on udp port {self.peer[1]} at {self.peer[0]} (an ICMP "
                                         "port unreachable came back); start `chatlab server --udp` first")
            if self.core.refused:
                name = ask_name(self.core.refused)
                if name is None:
                    raise ClientError("no name chosen")
                self.core.rename(name)
                continue
            if self.core.joined:
                break
        if not self.core.joined:
            raise ClientError(f"no answer from udp {ev.fmt_addr(self.peer)} after {self.join_attempts} joins "
                                 "(UDP cannot tell a silent server from a lost datagram)")
        # The history comes in datagrams of its own: take what belongs to it before the prompt.
        deadline = time.monotonic() + self.join_interval
        while self.view.in_history and time.monotonic() < deadline:
            self._receive_some(deadline - time.monotonic(), self.console.print)
        self.log.emit(ev.Note(side="client", text=f"joined as {self.core.name}: our cookie echo proved our "
                                                  "address, no handshake needed"))
        return self.core.name

    def run(self, interactive: bool) -> int:
        """Chat until the session ends; return the exit status (0 when the user left)."""
        how, detail = self.chat(Screen(self.console, interactive, prompt=f"{self.name}> "), self._receive_loop)
        self._done.set()
        if how not in ("local", "quit"):
            self.screen.leave(f"disconnected: {detail}", style="bold red")
        down = self.core.downstream
        self.console.print(f"udp: {down.received} lines from the server, {down.lost} lost, {down.duplicated} "
                           f"duplicated, {down.out_of_order} out of order", style="dim")
        self.sock.close()
        return 0 if how in ("local", "quit") else 1

    @property
    def name(self) -> str | None:
        """The name we joined with."""
        return self.core.name if self.core else None

    def send_typed(self, text: str) -> None:
        """One numbered datagram (ValueError if the line does not fit in one)."""
        self._send(self.core.line(text))

    def on_ctrl_c(self) -> None:
        """No FIN over UDP: say goodbye in words, or the others wait for the idle timeout."""
        self._send(self.core.line("/quit"))

    def quit_unanswered(self) -> None:
        """The bye may be lost (UDP): we leave anyway."""
        self.end_once("quit", "/quit")

    # -- the receiver thread -----------------------------------------------------

    def _receive_loop(self) -> None:
        while not self._done.is_set() and self.ended is None:
            if not self._receive_some(0.2, self._show):
                if self.end_once("error", "the server's port is closed (an ICMP port unreachable came back)"):
                    self.screen.wake()
                return
            if self.view.goodbye and self.end_once("shutdown", self.view.goodbye):
                self.screen.wake()
                return
            if time.monotonic() - self._last_sent >= self.keepalive:
                self._send(KEEPALIVE)

    def _show(self, text: Any) -> None:
        self.screen.show(text)

    def _receive_some(self, timeout: float, show: Callable[[Any], None]) -> bool:
        """Wait up to ``timeout`` for one datagram and handle it; False if the server's port is closed."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            data = self.sock.recv(65535)
        except ConnectionRefusedError:
            return False
        except OSError:
            return True
        for line in self.core.receive(data):
            event = self.view.show(line)
            if event.parsed is not None and event.parsed.kind == "info" and event.parsed.code == "bye":
                self.end_once("quit", "/quit")
            show(render_line(event.line, event.in_history))
        if self.core.reply:
            self._send(self.core.reply)
        return True

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self._last_sent = time.monotonic()
            try:
                self.sock.send(data)
            except OSError:
                pass  # ConnectionRefusedError is seen by the next recv()

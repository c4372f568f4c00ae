"""The TCP chat client: one thread receives and displays, the other reads input and sends.

``connect()`` opens the TCP connection: the kernel sends the SYN inside
``connect()``, which returns when the SYN-ACK arrives (about one round trip;
the client's ACK leaves right after).  We time it and report the ephemeral
port our OS chose.  ``register()`` agrees on a name with the server.
``run()`` then starts the *receiver* thread and reads the keyboard in the
main thread, so the user can type while messages arrive.

What the client *decides* (is this a chat-lab server? a TLS port? which
name? where does the history end? how did it end?) is
``lab.chat.client_core.ClientCore``; the prompt and the drawing are
``lab.terminal``.  This module owns the socket and the two threads.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

from lab import lifecycle as ev
from lab.chat import limits
from lab.chat.client_core import JOINED, ClientCore, Ended, NameWanted, Refused, Show, is_quit
from lab.net.sockopts import set_recv_timeout
from lab.net.tcpinfo import read_tcp_info
from lab.tcp.transport import PlainTransport, Transport
from lab.experiments.bulk import run_paste_command
from lab.terminal import ClientError, Screen, TerminalSession, render_line


class ChatClient(TerminalSession):
    """One connection to a chat server, driven by a person at a terminal."""

    def __init__(self, host: str, port: int, *, console: Any = None, log: ev.EventLog | None = None,
                 tls_context: Any = None, connect_timeout: float = limits.CONNECT_TIMEOUT_S):
        from rich.console import Console

        super().__init__()
        self.host = host
        self.port = port
        self.console = console or Console(highlight=False, markup=False, emoji=False)
        self.log = log or ev.EventLog(verbosity=1, console=self.console)
        self.tls_context = tls_context
        self.connect_timeout = connect_timeout
        self.core = ClientCore(ev.fmt_addr((host, port)))
        self.sock: socket.socket | None = None
        self.transport: Transport | None = None
        self.name: str | None = None
        self._started = 0.0
        self.bytes_out = 0
        self.lines_out = 0
        self._quitting = False
        self._reported = False

    # -- connecting -------------------------------------------------------------

    def connect(self) -> None:
        """Open the TCP connection (and TLS on top if asked); raise ClientError on failure."""
        self.log.emit(ev.Connecting(side="client", server=(self.host, self.port)))
        began = time.perf_counter()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except ConnectionRefusedError:
            raise ClientError(f"connection refused by {self.host}:{self.port}: the server answered the SYN with "
                              "an RST, so nothing is listening on that port (is the server running? right port?)")
        except socket.gaierror:
            raise ClientError(f"cannot find the host {self.host!r}: check the name or use its IP address")
        except TimeoutError:
            raise ClientError(f"no answer from {self.host}:{self.port} within {self.connect_timeout:g} s "
                              "(wrong address, or a firewall dropping the SYN?)")
        except OSError as error:
            raise ClientError(f"cannot connect to {self.host}:{self.port}: {error.strerror or error}")
        elapsed = (time.perf_counter() - began) * 1000
        sock.settimeout(None)  # back to blocking: the threads below wait as long as needed
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._started = time.time()
        local, remote = sock.getsockname(), sock.getpeername()
        self.log.emit(ev.Connected(side="client", local=local, server=remote, connect_ms=elapsed))
        self.transport = self._start_tls(sock) if self.tls_context is not None else PlainTransport(sock)

    def _start_tls(self, sock: socket.socket) -> Transport:
        from lab.tls import TlsHandshakeError, TlsTransport

        transport = TlsTransport(sock, self.tls_context, server_side=False, server_hostname=self.host)
        try:
            transport.handshake(self.connect_timeout)
        except TlsHandshakeError as error:
            sock.close()
            raise ClientError(f"TLS with {self.host}:{self.port} failed: {error.reason}")
        # The input thread sends while the receiver thread reads: the
        # transport's own lock keeps encryption and sending together.
        transport.on_wire_pending = lambda: transport.sendall(b"")
        self.log.emit(ev.Note(side="client", text=f"TLS handshake complete: {transport.describe()}"))
        return transport

    def _send(self, data: bytes) -> None:
        self.transport.sendall(data)
        self.bytes_out += len(data)
        self.lines_out += data.count(b"\n")

    def send_line(self, text: str) -> None:
        """Send one line the user typed (the server ends it at the newline we add)."""
        self._send(self.core.line(text))

    def register(self, ask_name: Callable[[str], str | None], name: str | None = None) -> str:
        """Agree on a name with the server; return it.

        ``ask_name(problem)`` is called for a (new) name whenever none was
        given or the server refused the last one; it returns None to give up.
        The welcome and the history that comes with it are shown before this
        returns, so the prompt is drawn below them.
        """
        deadline = time.monotonic() + self.connect_timeout
        probe_at = time.monotonic() + limits.HELLO_PROBE_AFTER_S
        try:
            while True:
                if self.core.state == JOINED and not self.core.in_history or self.ended is not None:
                    self.name = self.core.name
                    return self.name
                now = time.monotonic()
                if now >= deadline:
                    raise ClientError(self.core.silent_for(self.connect_timeout) if self.core.lines_in == 0
                                      else f"the server did not answer within {self.connect_timeout:g} s")
                wake_at = deadline if self.core.probed or self.tls_context is not None else min(deadline, probe_at)
                set_recv_timeout(self.sock, max(0.01, wake_at - now))
                try:
                    data = self.transport.recv(4096)
                except BlockingIOError:  # SO_RCVTIMEO expired: silence
                    if not self.core.probed and self.tls_context is None and self.core.lines_in == 0:
                        self._send(self.core.silence_probe())
                    continue
                events = [self.core.connection_closed()] if not data else self.core.receive(data)
                for event in events:
                    name = self._registration_event(event, ask_name, name)
        except ConnectionResetError:
            event = self.core.connection_reset()
            raise ClientError(event.message if isinstance(event, Refused) else event.detail) from None
        finally:
            if self.sock is not None:
                set_recv_timeout(self.sock, 0)

    def _registration_event(self, event, ask_name: Callable[[str], str | None], name: str | None) -> str | None:
        """Carry out one event of the registration; return the name given on the command line, if still unused."""
        if isinstance(event, Refused):
            raise ClientError(event.message)
        if isinstance(event, NameWanted):
            if event.problem or name is None:
                name = ask_name(event.problem)
                if name is None:
                    raise ClientError("no name chosen")
            self._send(self.core.name_line(name))
            return None
        if isinstance(event, Show):
            self.console.print(render_line(event.line, event.in_history))
        elif isinstance(event, Ended):  # the server closed right after the welcome
            self.end_once(event.how, event.detail)
        return name

    # -- chatting -----------------------------------------------------------------

    def run(self, interactive: bool) -> int:
        """Receive in a thread, read input here; return the exit status."""
        how, detail = self.chat(Screen(self.console, interactive, prompt=f"{self.name}> "), self._receive_loop)
        self._report_end(how, detail)
        # Leaving on purpose (/quit, Ctrl-C, end of input) is success; losing the server is not.
        return 0 if self._quitting or how == "local" else 1

    def send_typed(self, text: str) -> None:
        """Send a typed line; after /quit, the server's close is expected, not a loss."""
        if run_paste_command(text, self.sock, self.send_line, self.screen.show):  # /paste [FILE]
            return
        self._quitting = self._quitting or is_quit(text)
        self.send_line(text)

    def on_ctrl_c(self) -> None:
        """Ctrl-C: close the socket (a FIN, as the lifecycle log explains)."""
        self._close_here()

    def quit_unanswered(self) -> None:
        """No bye within a few seconds of /quit: close from this side."""
        if self.end_once("local", "/quit: no answer from the server"):
            self._close_here()

    def _receive_loop(self) -> None:
        """The receiver thread: show each line until the connection ends."""
        try:
            while True:
                data = self.transport.recv(4096)
                if not data:
                    ended = self.core.connection_closed()
                    break
                for event in self.core.receive(data):
                    if isinstance(event, Show):
                        self.screen.show(render_line(event.line, event.in_history))
        except ConnectionResetError:
            ended = self.core.connection_reset()
        except OSError as error:
            if self.ended is not None:
                return  # we closed the socket ourselves
            ended = Ended("error", error.strerror or str(error))
        if isinstance(ended, Ended) and self.end_once(ended.how, ended.detail) and not self._quitting:
            # Wake the main thread out of input(): it reports how it ended.
            self.screen.wake()

    def _close_here(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _report_end(self, how: str, detail: str) -> None:
        if self._reported:
            return
        self._reported = True
        info = read_tcp_info(self.sock) if self.sock else None
        if how != "local" and not self._quitting and self.screen is not None:
            self.screen.leave(f"disconnected: {detail}", style="bold red" if how != "fin" else "bold")
        self.log.emit(ev.Closed(
            side="client", how=how, detail=detail, name=self.name, peer=(self.host, self.port),
            bytes_in=self.core.bytes_in, lines_in=self.core.lines_in,
            bytes_out=self.bytes_out, lines_out=self.lines_out, duration=time.time() - self._started,
            tcp_info=info.to_dict() if info else None))


"""The chat client: one thread receives and displays, the other reads input and sends.

``connect()`` opens the TCP connection (the kernel does the three-way
handshake inside ``connect``; we time it and report the ephemeral port our
OS chose).  ``register()`` agrees on a name with the server.  ``run()``
then starts the *receiver* thread and reads the keyboard in the main
thread, so the user can type while messages arrive.

Everything received is shown literally: server lines are cleaned of
control characters and escape sequences (``lab.chat.wire.clean_text``), and
rendered as rich ``Text`` objects, which never interpret markup.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections import deque
from typing import Any, Callable

from lab import lifecycle as ev
from lab.chat import wire as p
from lab.net.sockopts import set_recv_timeout
from lab.net.tcpinfo import read_tcp_info

# Server lines are at most about 1.1 KB; allow generous room.
_MAX_SERVER_LINE = 16 * 1024


class ClientError(Exception):
    """A problem worth one line to the user (connection refused, name refused...)."""


class LineReader:
    """Server lines from a transport, one at a time, whatever the recv() boundaries."""

    def __init__(self, recv: Callable[[int], bytes]):
        self._recv = recv
        self._decoder = p.LineDecoder(max_line=_MAX_SERVER_LINE, max_unterminated=4 * _MAX_SERVER_LINE)
        self._ready: deque[str] = deque()
        self.bytes_in = 0
        self.lines_in = 0

    def next_line(self) -> str | None:
        """The next line, or None when the server closed the connection (FIN)."""
        while not self._ready:
            data = self._recv(4096)
            if not data:
                return None
            self.bytes_in += len(data)
            for event in self._decoder.feed(data):
                if isinstance(event, p.Line):
                    self._ready.append(event.text)
        self.lines_in += 1
        return self._ready.popleft()


class Screen:
    """Prints received lines without garbling the line the user is typing.

    In a terminal, readline holds the half-typed line.  To show a message
    we erase the prompt line, print the message, then draw the prompt and
    the half-typed text again, so the user can keep typing.
    """

    def __init__(self, console: Any, interactive: bool):
        self.console = console
        self.interactive = interactive
        self.prompt = ""
        self.reading = False
        self._lock = threading.Lock()
        self._readline = None
        if interactive:
            try:
                import readline

                self._readline = readline
            except ImportError:  # pragma: no cover - Python built without readline
                pass

    def show(self, text: Any) -> None:
        with self._lock:
            if self.interactive and self.reading:
                typed = self._readline.get_line_buffer() if self._readline else ""
                # the cursor is on the last terminal row of prompt + typed text
                sys.stdout.write(_erase_rows(self._rows_above(self.prompt + typed)))
                sys.stdout.flush()
                self.console.print(text)
                sys.stdout.write(self.prompt + typed + _past_margin(self.prompt + typed))
                sys.stdout.flush()
            else:
                self.console.print(text)

    def replace_typed_line(self, text: Any, typed: str) -> None:
        """Replace the line the user just entered (``typed``) with its rendered form."""
        with self._lock:
            if self.interactive:
                # Enter moved the cursor to the row below everything that was typed
                sys.stdout.write(_erase_rows(self._rows_taken(self.prompt + typed)))
                sys.stdout.flush()
            self.console.print(text)

    @staticmethod
    def _rows_above(shown: str) -> int:
        """Terminal rows between the cursor (at the end of ``shown``) and the row ``shown`` starts on.

        A line longer than the terminal is wide wraps onto the next rows;
        at an exact multiple of the width, readline moves the cursor to the
        start of a new row.  Wide characters (CJK, emoji) take two columns.
        """
        cells, width = _cells_and_width(shown)
        return cells // width

    @staticmethod
    def _rows_taken(shown: str) -> int:
        """Terminal rows ``shown`` takes (at least one): after Enter, the cursor is on the row below them."""
        cells, width = _cells_and_width(shown)
        return max(1, -(-cells // width))


def _cells_and_width(shown: str) -> tuple[int, int]:
    """The terminal columns ``shown`` takes, and the terminal's width (at least 1)."""
    from rich.cells import cell_len

    return cell_len(shown), max(1, shutil.get_terminal_size().columns)


def _past_margin(shown: str) -> str:
    """CR LF when ``shown`` exactly fills its last terminal row, else nothing.

    The terminal leaves the cursor on that row, past the margin; readline,
    which drew the line first, had put it at the start of the next row, and
    readline's later redrawing (and our _rows_above) counts on that.
    """
    cells, width = _cells_and_width(shown)
    return "\r\n" if cells and cells % width == 0 else ""


def _erase_rows(up: int) -> str:
    """Terminal codes: go up ``up`` rows to column 0, and clear from there to the end of the screen."""
    return ("\r" if up == 0 else f"\x1b[{up}A\r") + "\x1b[J"


_NAME_COLOURS = ("cyan", "green", "yellow", "magenta", "blue", "bright_cyan", "bright_green", "bright_magenta")


def _colour(name: str) -> str:
    return _NAME_COLOURS[sum(name.casefold().encode()) % len(_NAME_COLOURS)]


def render_line(line: str, in_history: bool = False):
    """A server line as rich Text, styled by kind; text is always literal."""
    from rich.text import Text

    parsed = p.parse_server_line(line)
    out = Text()
    if parsed is None:  # not our protocol: show it as it is (already cleaned)
        out.append(line)
        return out
    out.append(parsed.time + " ", style="dim")
    if parsed.kind == "public":
        out.append(f"<{parsed.name}> ", style=f"bold {_colour(parsed.name)}")
        out.append(parsed.text)
    elif parsed.kind == "private":
        out.append(f"*{parsed.name}* ", style="bold magenta")
        out.append(parsed.text, style="magenta")
    elif parsed.kind == "private-echo":
        out.append(f"-> {parsed.name} ", style="magenta")
        out.append(parsed.text, style="magenta")
    elif parsed.kind == "event":
        out.append("*** ", style="yellow")
        out.append(parsed.name or "", style=f"bold {_colour(parsed.name or '')}")
        out.append(f" {parsed.code}" if parsed.code else "", style="yellow")
        if parsed.text:
            out.append(f" ({parsed.text})", style="yellow")
    elif parsed.kind == "error":
        out.append("!!! ", style="bold red")
        out.append(parsed.text, style="red")
    else:
        out.append("--- ", style="cyan")
        out.append(parsed.text, style="cyan")
    if in_history:
        out.stylize("dim")
    return out


class ChatClient:
    """One connection to a chat server, driven by a person at a terminal."""

    def __init__(self, host: str, port: int, *, console: Any = None, log: ev.EventLog | None = None,
                 tls_context: Any = None, connect_timeout: float = 10.0):
        from rich.console import Console

        self.host = host
        self.port = port
        self.console = console or Console(highlight=False, markup=False, emoji=False)
        self.log = log or ev.EventLog(verbosity=1, console=self.console)
        self.tls_context = tls_context
        self.connect_timeout = connect_timeout
        self.sock: socket.socket | None = None
        self.reader: LineReader | None = None
        self.name: str | None = None
        self._send_wire: Callable[[bytes], None] | None = None
        self._started = 0.0
        self.bytes_out = 0
        self.lines_out = 0
        self.ended: tuple[str, str] | None = None  # how the receiver saw the end
        self._quitting = False
        self._screen: Screen | None = None

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
        recv = sock.recv
        self._send_wire = sock.sendall
        if self.tls_context is not None:
            recv = self._start_tls(sock)
        self.reader = LineReader(recv)

    def _start_tls(self, sock: socket.socket) -> Callable[[int], bytes]:
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
        self._send_wire = transport.sendall
        self.log.emit(ev.Note(side="client", text=f"TLS handshake complete: {transport.describe()}"))
        return transport.recv

    def send_line(self, text: str) -> None:
        data = text.encode("utf-8", errors="replace") + b"\n"
        self._send_wire(data)
        self.bytes_out += len(data)
        self.lines_out += 1

    def register(self, ask_name: Callable[[str], str | None], name: str | None = None) -> str:
        """Agree on a name with the server; return it.

        ``ask_name(problem)`` is called for a (new) name whenever none was
        given or the server refused the last one; it returns None to give up.
        """
        set_recv_timeout(self.sock, self.connect_timeout)
        try:
            hello = self._expect_info()
            if hello.code != "hello":
                raise ClientError(f"unexpected first line from the server: {hello.text!r}")
            problem = ""
            while True:
                if name is None:
                    name = ask_name(problem)
                    if name is None:
                        raise ClientError("no name chosen")
                self.send_line(name)
                reply = self._expect_info()
                if reply.kind == "info" and reply.code == "welcome":
                    self.name = name
                    self._screen_show(reply)
                    return name
                if reply.kind == "error" and reply.code in ("name-taken", "name-invalid"):
                    problem = reply.text
                    name = None
                    continue
                raise ClientError(f"the server refused: {reply.text}")
        except BlockingIOError:
            raise ClientError(f"the server did not answer within {self.connect_timeout:g} s")
        finally:
            set_recv_timeout(self.sock, 0)

    def _expect_info(self) -> p.ServerLine:
        line = self.reader.next_line()
        if line is None:
            raise ClientError("the server closed the connection")
        parsed = p.parse_server_line(line)
        if parsed is None:
            raise ClientError(f"this does not look like a chat-lab server (it sent {line[:60]!r})")
        if parsed.kind == "error" and parsed.code not in ("name-taken", "name-invalid"):
            raise ClientError(parsed.text)
        return parsed

    def _screen_show(self, parsed: p.ServerLine) -> None:
        self.console.print(render_line(f"{parsed.time} --- {parsed.code}: {parsed.text}"))

    # -- chatting -----------------------------------------------------------------

    def run(self, interactive: bool) -> int:
        """Receive in a thread, read input here; return the exit status."""
        self._screen = Screen(self.console, interactive)
        self._screen.prompt = f"{self.name}> " if interactive else ""
        receiver = threading.Thread(target=self._receive_loop, name="receiver", daemon=True)
        receiver.start()
        status = 0
        try:
            self._input_loop(interactive)
        except KeyboardInterrupt:
            if self.ended is None:
                self._screen.reading = False
                self.console.print("\ndisconnected (Ctrl-C)", style="bold")
                self._close_here("local", "Ctrl-C: close() sends a FIN")
        except (BrokenPipeError, ConnectionResetError):
            pass
        if self.ended is not None:
            how, detail = self.ended
            # Leaving on purpose (/quit, Ctrl-C) is success; losing the server is not.
            status = 0 if self._quitting or how == "local" else 1
            self._report_end(how, detail)
        receiver.join(1)
        return status

    def _input_loop(self, interactive: bool) -> None:
        while self.ended is None:
            self._screen.reading = True
            try:
                line = input(self._screen.prompt) if interactive else sys.stdin.readline()
            except EOFError:
                line = ""
                interactive = False
            finally:
                self._screen.reading = False
            if self.ended is not None:
                return
            if line == "" and not interactive:  # end of input (Ctrl-D, or a pipe that ended)
                line = "/quit"
            text = line.strip()
            if not text:
                continue
            if interactive and not text.startswith("/"):
                now = time.time()
                self._screen.replace_typed_line(render_line(p.format_public(now, self.name, p.clean_text(text))),
                                                line.rstrip("\n"))
            self.send_line(text)
            if p.parse_command(text).__class__ is p.Quit:
                self._quitting = True
                deadline = time.monotonic() + 3
                while self.ended is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                if self.ended is None:
                    self._close_here("local", "/quit: no answer from the server")
                return

    def _receive_loop(self) -> None:
        """The receiver thread: show each line until the connection ends."""
        in_history = False
        how, detail = "fin", "the server closed the connection"
        try:
            while True:
                line = self.reader.next_line()
                if line is None:
                    break
                parsed = p.parse_server_line(line)
                if parsed is not None and parsed.kind == "info":
                    if parsed.code == "history":
                        in_history = True
                    elif parsed.code == "history-end":
                        in_history = False
                    elif parsed.code == "shutdown":
                        detail = "the server is shutting down"
                self._screen.show(render_line(line, in_history and parsed is not None and parsed.code != "history"))
        except ConnectionResetError:
            how, detail = "rst", "the connection was reset (RST)"
        except OSError as error:
            if self.ended is not None:
                return  # we closed the socket ourselves
            how, detail = "error", error.strerror or str(error)
        if self.ended is None:
            self.ended = (how, detail)
            if not self._quitting:
                # Wake the main thread out of input(): a real SIGINT interrupts
                # the blocking read, and run() sees why in self.ended.
                os.kill(os.getpid(), signal.SIGINT)

    def _close_here(self, how: str, detail: str) -> None:
        if self.ended is None:
            self.ended = (how, detail)
        self._report_end(how, detail)
        try:
            self.sock.close()
        except OSError:
            pass

    def _report_end(self, how: str, detail: str) -> None:
        if getattr(self, "_reported", False):
            return
        self._reported = True
        info = read_tcp_info(self.sock) if self.sock else None
        if how != "local" and not self._quitting:
            self.console.print(f"disconnected: {detail}", style="bold red" if how != "fin" else "bold")
        self.log.emit(ev.Closed(
            side="client", how=how, detail=detail, name=self.name, peer=(self.host, self.port),
            bytes_in=self.reader.bytes_in if self.reader else 0, lines_in=self.reader.lines_in if self.reader else 0,
            bytes_out=self.bytes_out, lines_out=self.lines_out, duration=time.time() - self._started,
            tcp_info=info.to_dict() if info else None))

"""The one scripted chat member: a real TCP connection driven by a script, not a person.

The demo's alice and bob, the TCP half of ``chatlab compare``, the notebooks'
``nb.ChatPeer`` and the end-to-end tests all talk to a chat server through
:class:`Peer`.  :class:`PeerProcess` runs one in a process of its own
(``python -m lab.peer``) for what only a process can show: a real Ctrl-C
(SIGINT), or a SIGKILL while received data sits unread (the kernel then
closes the socket with RST, not FIN).

What a session decides (is this a chat-lab server? the name accepted or
refused? where does the history end? how did the connection end?) is
:class:`lab.chat.client_core.ClientCore`, the same core ``chatlab client``
uses; what a line means comes from :mod:`lab.chat.wire`, the one parser of
the wire format.  The lines a peer hands out are split at CRLF, the only line
end the server sends (docs/PROTOCOL.md), and kept exactly as they arrived
(UTF-8, invalid bytes as U+FFFD), *not* cleaned as the core cleans what it
shows: a test must see what the server really sent, so that it can fail when
the server lets an escape sequence through.

Every wait is bounded: ``expect`` and ``read`` take a timeout, and
``PeerTimeout`` says what did arrive.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Callable, Union

from lab.chat import wire
from lab.chat.client_core import ClientCore, Ended, Joined, NameWanted, Refused, Show
from lab.net.addresses import Address, host_port
from lab.net.sockopts import family_for, unread_bytes
from lab.tcp.transport import PlainTransport, Transport

LINE_END = b"\r\n"
MAX_UNTERMINATED = 1 << 20  # a server line is about 1 KiB; 1 MiB without CRLF is not a chat server

Match = Union[str, "re.Pattern[str]", Callable[[str], bool]]
"""What ``expect`` waits for: text the line contains, a regex it contains, or a test on the line."""


class PeerError(Exception):
    """The chat did not go as the script expected (refused name, not a chat server, connection ended)."""


class PeerTimeout(TimeoutError):
    """An expected line did not arrive in time; the message lists what did arrive."""


def _matcher(match: Match) -> Callable[[str], bool]:
    if isinstance(match, str):
        return lambda line: match in line
    if isinstance(match, re.Pattern):
        return lambda line: match.search(line) is not None
    return match


def _describe(match: Match) -> str:
    if isinstance(match, re.Pattern):
        return f"a line matching {match.pattern!r}"
    if isinstance(match, str):
        return f"{match!r}"
    return getattr(match, "__doc__", None) or "the line it waited for"


def is_info(code: str) -> Callable[[str], bool]:
    """A test for ``expect``: an info line (``--- CODE: ...``) with this code, read by lab.chat.wire."""

    def test(line: str) -> bool:
        parsed = wire.parse_server_line(line)
        return parsed is not None and parsed.kind == "info" and parsed.code == code

    test.__doc__ = f"the server's '--- {code}:' line"
    return test


def is_event(name: str, what: str) -> Callable[[str], bool]:
    """A test for ``expect``: ``*** NAME joined`` or ``*** NAME left (...)`` (``what``: "joined" or "left")."""

    def test(line: str) -> bool:
        parsed = wire.parse_server_line(line)
        return parsed is not None and parsed.kind == "event" and parsed.code == what and parsed.name == name

    test.__doc__ = f"'*** {name} {what}'"
    return test


class Peer:
    """One chat member over a real TCP socket (optionally TLS), driven by a script.

    Connecting happens in the constructor (``connect_ms`` is how long
    ``connect()`` took: the three-way handshake; ``local`` is the
    (address, ephemeral port) our OS chose).  With a ``name`` it also joins:
    the server's hello, the name, the welcome.  ``rcvbuf`` sets SO_RCVBUF
    *before* ``connect()``, so the window offered in the SYN is already
    small (a member that stops reading then fills up quickly).

    ``lines`` holds every line handed out so far; ``history`` the lines the
    server sent inside its history block (as ``core`` saw them); ``ended``
    becomes "fin" or "rst" when the server's side of the connection ends.
    ``core`` is the session's ClientCore, ``transport`` the byte channel
    (plain, or TLS with ``tls=`` an ``ssl.SSLContext``).
    """

    def __init__(self, address: Address, name: str | None = None, *, timeout: float = 5.0,
                 rcvbuf: int | None = None, tls=None, server_hostname: str | None = None, nodelay: bool = True):
        self.server: Address = (address[0], address[1])
        self.name: str | None = None
        self.timeout = timeout
        self.lines: list[str] = []
        self.history: list[str] = []
        self.ended: str | None = None
        self.core = ClientCore(host_port(*self.server))
        self._events: deque = deque()  # what the core said and join() has not looked at yet
        self._pending: deque[str] = deque()
        self._buffer = b""
        self.sock = socket.socket(family_for(self.server[0]), socket.SOCK_STREAM)
        self.transport: Transport = PlainTransport(self.sock)
        try:
            if rcvbuf:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            began = time.perf_counter()
            self.sock.connect(self.server)
            self.connect_ms = (time.perf_counter() - began) * 1000
            if nodelay:  # one segment per line: what a lesson's capture should show
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local: Address = self.sock.getsockname()[:2]
            if tls is not None:
                from lab.tls import TlsTransport

                self.transport = TlsTransport(self.sock, tls, server_side=False,
                                              server_hostname=server_hostname or self.server[0])
                self.transport.handshake(timeout)
            if name is not None:
                self.join(name)
        except BaseException:
            self.sock.close()
            raise

    def __repr__(self) -> str:
        return (f"<Peer {self.name or '(no name)'} {self.local[0]}:{self.local[1]} -> "
                f"{self.server[0]}:{self.server[1]}>")

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed_by_server(self) -> bool:
        """True once the server's side ended (its FIN arrived, or the connection was reset)."""
        return self.ended is not None

    # -- sending ----------------------------------------------------------------

    def send(self, text: str) -> None:
        """Send one line as a person types it: the text and LF (``alice`` is 6 bytes).

        Raises TimeoutError if the server takes nothing for ``timeout``
        seconds (it stopped reading, and the buffers between are full).
        """
        self.send_bytes(self.core.line(text))

    def send_bytes(self, data: bytes) -> None:
        """Send bytes exactly as given: half lines, other line ends, raw escapes (what ``nc`` can send)."""
        self.sock.settimeout(self.timeout)
        self.transport.sendall(data)

    # -- receiving --------------------------------------------------------------

    def _fill(self, timeout: float) -> bool:
        """One recv(), waiting at most ``timeout`` s; True if bytes arrived.  Sets ``ended`` at FIN/RST."""
        if self.ended is not None:
            return False
        self.sock.settimeout(max(0.001, timeout))
        try:
            data = self.transport.recv(65536)
        except (TimeoutError, socket.timeout):
            return False
        except ConnectionResetError:
            self.ended = "rst"
            self._events.append(self.core.connection_reset())
            return False
        if not data:
            self.ended = "fin"
            self._events.append(self.core.connection_closed())
            return False
        for event in self.core.receive(data):
            if isinstance(event, Show):
                if event.in_history:
                    self.history.append(event.line)
            else:
                self._events.append(event)
        self._buffer += data
        *complete, self._buffer = self._buffer.split(LINE_END)
        self._pending.extend(line.decode("utf-8", "replace") for line in complete)
        if len(self._buffer) > MAX_UNTERMINATED:
            raise PeerError(f"{len(self._buffer)} bytes without a line end from {self.server[0]}:"
                            f"{self.server[1]}: this is not a chat server")
        return True

    def _take(self, count: int | None = None) -> list[str]:
        """Hand out the first ``count`` pending lines (all of them by default)."""
        count = len(self._pending) if count is None else count
        got = [self._pending.popleft() for _ in range(count)]
        self.lines += got
        return got

    def receive(self, timeout: float = 0.0) -> list[str]:
        """The lines complete now, after waiting at most ``timeout`` s for more bytes (one recv)."""
        if not self._pending or timeout > 0:
            self._fill(timeout)
        return self._take()

    def read(self, quiet: float = 0.3, limit: float = 3.0) -> list[str]:
        """The lines that arrive until nothing more came for ``quiet`` s (at most ``limit`` s in all)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self._fill(min(quiet, deadline - time.monotonic())):
            pass
        return self._take()

    def expect(self, match: Match, timeout: float | None = None) -> list[str]:
        """Read until a line matches; return the lines up to and including it (the last one).

        ``match`` is text the line contains, a compiled regex it contains, or
        a test such as ``is_info("welcome")``.  Lines after the match stay for
        the next read.  Raises PeerTimeout (a TimeoutError) after ``timeout``
        seconds (default: the peer's), or when the server ended the connection
        first, saying what arrived instead.
        """
        return self._wait_for(match, self.timeout if timeout is None else timeout)

    def _wait_for(self, match: Match, timeout: float) -> list[str]:
        """``expect`` with its timeout chosen (join() and quit() use it too)."""
        test = _matcher(match)
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for i in range(checked, len(self._pending)):
                if test(self._pending[i]):
                    return self._take(i + 1)
            checked = len(self._pending)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.ended is not None:
                seen = list(self._pending)
                self._take()
                why = f"the server ended the connection ({self.ended})" if self.ended else f"{timeout:g} s passed"
                raise PeerTimeout(f"{self.name or 'the peer'} waited for {_describe(match)} but {why}; "
                                  f"it received: {seen if seen else 'nothing'}")
            self._fill(remaining)

    def read_until_closed(self, timeout: float = 3.0) -> list[str]:
        """Read until the server's side ends (its FIN: ``recv()`` returns b''), at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.ended is None and time.monotonic() < deadline:
            self._fill(deadline - time.monotonic())
        return self._take()

    # -- the conversation ---------------------------------------------------------

    def join(self, name: str, timeout: float | None = None) -> str:
        """Join the chat as ``name``: the server's hello, the name, its welcome (ClientCore decides).

        Raises PeerError with the core's words when the server refuses the
        name or the session (not a chat-lab server, a TLS port...), and
        PeerTimeout when the server says nothing in time.  The lines up to
        the welcome are handed out (they are in ``lines``); what follows
        (the history, the others' news) stays for the next read.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        asked = False
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, NameWanted):
                    if asked:
                        raise PeerError(f"the server refused the name {name!r}: {event.problem}")
                    self.send_bytes(self.core.name_line(name))
                    asked = True
                elif isinstance(event, Joined):
                    self.name = name
                    self._wait_for(is_info("welcome"), 0)
                    return name
                elif isinstance(event, (Refused, Ended)):
                    raise PeerError(getattr(event, "message", None) or event.detail)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerTimeout(f"{name} could not join {host_port(*self.server)} within {timeout:g} s; "
                                  f"the server sent: {list(self._pending) or 'nothing'}")
            self._fill(remaining)

    def quit(self, reason: str = "", timeout: float = 3.0) -> list[str]:
        """``/quit``, read until the server's FIN, then close: a FIN-FIN close with nothing left unread."""
        try:
            self.send_bytes(self.core.line(f"/quit {reason}".rstrip()))
        except OSError:
            pass  # the server is already gone: nothing to say goodbye to
        got = self.read_until_closed(timeout)
        self.close()
        return got

    def close(self) -> None:
        """Close the socket (FIN if nothing is unread; RST if received data is left unread)."""
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self) -> None:
        """End the connection at once with an RST (SO_LINGER on, 0 s), whatever it still had to send.

        A plain close() leaves unacknowledged data to the kernel, which goes
        on retransmitting it after the socket is gone (an "orphan" socket, in
        Linux's words: net.ipv4.tcp_orphan_retries).
        """
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


# -- a peer in a process of its own ---------------------------------------------------

class PeerProcess:
    """A :class:`Peer` in its own Python process (``python -m lab.peer``).

    ``mode="reads"``: a receiver thread reads everything the server sends,
    like ``chatlab client``, so nothing stays unread.  ``mode="stalled"``:
    after joining (and the ``script``: ``("send", LINE)`` and ``("expect",
    TEXT)`` steps, in order) it reads nothing more.  The child dies with this
    process (Linux: PR_SET_PDEATHSIG) and ends by itself after ``lifetime``
    seconds, so none is ever left behind.

    ``ctrl_c()`` sends SIGINT, as a terminal does on Ctrl-C: Python raises
    KeyboardInterrupt, the program ends (killed by SIGINT, exit status -2)
    and the *kernel* closes its socket.  ``unread()`` asks the child how many
    received bytes wait unread in its socket (FIONREAD), without reading them.
    """

    def __init__(self, port: int, name: str, mode: str = "reads", *, host: str = "127.0.0.1",
                 script: tuple[tuple[str, str], ...] = (), timeout: float = 10.0, lifetime: float = 60.0):
        if mode not in ("reads", "stalled"):
            raise ValueError(f"mode is 'reads' or 'stalled', not {mode!r}")
        self.name, self.mode = name, mode
        argv = [sys.executable, "-m", "lab.peer", host, str(port), name, "--mode", mode, "--lifetime", str(lifetime)]
        for step, text in script:
            argv += [f"--{step}", text]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self._stdout = b""  # what the child said and we have not taken yet (read with os.read, see _answer)
        try:
            line = self._answer(timeout).split()
            if line[:1] != ["ready"]:
                try:  # it failed: its one line on stderr says why
                    self.proc.wait(2)
                    error = self.proc.stderr.read()
                except subprocess.TimeoutExpired:
                    error = ""
                raise PeerError(f"the client process {name!r} did not join the chat"
                                + (f": {error.strip().splitlines()[-1]}" if error.strip() else ""))
            self.port = int(line[1])
        except BaseException:
            self.stop()
            raise

    def _answer(self, timeout: float) -> str:
        """The child's next line on stdout, or "" if none came within ``timeout`` s (or it ended).

        Read with os.read, not the file object's readline: readline keeps
        what it read past the line in its own buffer, where select() cannot
        see it, and the next wait would miss a line that already came.
        """
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._stdout:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:
                return ""
            self._stdout += chunk
        line, self._stdout = self._stdout.split(b"\n", 1)
        return line.decode().strip()

    def unread(self, timeout: float = 5.0) -> int:
        """Bytes received by the child's socket and not read yet (the child's FIONREAD)."""
        self.proc.stdin.write("unread\n")
        self.proc.stdin.flush()
        answer = self._answer(timeout)
        if not answer.isdigit():
            raise PeerError(f"the client process {self.name!r} did not answer (it said {answer!r})")
        return int(answer)

    def wait_unread(self, minimum: int = 1, timeout: float = 5.0) -> int:
        """Wait until at least ``minimum`` bytes wait unread in the child's socket; return how many."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = self.unread(timeout)
            if waiting >= minimum:
                return waiting
            if time.monotonic() >= deadline:
                raise PeerTimeout(f"{self.name} has {waiting} unread bytes after {timeout:g} s, "
                                  f"not the {minimum} expected")
            time.sleep(0.01)

    def ctrl_c(self, timeout: float = 5.0) -> int:
        """Send SIGINT (what Ctrl-C does) and wait for the process to end; returns its exit status."""
        return self._signal(signal.SIGINT, timeout)

    def kill(self, timeout: float = 5.0) -> int:
        """SIGKILL: the process ends at once, the kernel closes its socket; returns its exit status."""
        return self._signal(signal.SIGKILL, timeout)

    def _signal(self, signum: int, timeout: float) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.returncode

    def stop(self) -> None:
        """Kill the process if it still runs and release its pipes (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait for anyone
                pass
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


def _die_with_parent() -> None:
    """Linux: the kernel sends us SIGKILL when the parent process ends, even if it is killed outright."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass  # not Linux: the lifetime bounds the child instead


class _Steps(argparse.Action):
    """--send and --expect keep their order in one list."""

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.steps = [*(namespace.steps or []), (option_string.lstrip("-"), value)]


def main(argv: list[str] | None = None) -> int:
    """``python -m lab.peer HOST PORT NAME [--send LINE] [--expect TEXT] [--mode reads|stalled]``.

    The child side of PeerProcess: join, run the steps, print ``ready PORT``
    (our ephemeral port), then answer ``unread`` on stdin until Ctrl-C,
    SIGKILL, or ``--lifetime`` seconds.
    """
    parser = argparse.ArgumentParser(prog="python -m lab.peer", description=main.__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("name")
    parser.add_argument("--mode", choices=["reads", "stalled"], default="reads")
    parser.add_argument("--send", action=_Steps, dest="steps", metavar="LINE", help="send this line")
    parser.add_argument("--expect", action=_Steps, dest="steps", metavar="TEXT", help="wait for a line with TEXT")
    parser.add_argument("--lifetime", type=float, default=60.0, help="end by itself after this many seconds")
    args = parser.parse_args(argv)
    _die_with_parent()
    try:
        peer = Peer((args.host, args.port), args.name, timeout=5.0)
        for step, text in args.steps or []:
            if step == "send":
                peer.send(text)
            else:
                peer.expect(text)
    except (OSError, PeerError) as error:
        print(f"lab.peer: {error}", file=sys.stderr)
        return 1
    if args.mode == "reads":
        threading.Thread(target=peer.read_until_closed, args=(args.lifetime,), daemon=True).start()
    print("ready", peer.local[1], flush=True)
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sys.stdin], [], [], deadline - time.monotonic())
        if not ready:
            break
        command = sys.stdin.readline()
        if not command:  # the parent closed our stdin: just wait out the lifetime
            time.sleep(max(0.0, deadline - time.monotonic()))
            break
        if command.strip() == "unread":
            print(unread_bytes(peer.sock), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # End as an uncaught KeyboardInterrupt ends a Python program (killed
        # by SIGINT, status -2), without printing its traceback.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)

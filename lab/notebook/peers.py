"""Chat members for lessons: a scripted socket peer, and a client in its own process."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import time


class ChatPeer:
    """One chat member over a real TCP socket (optionally TLS), driven by the notebook.

    ``local`` is the client's own (ip, ephemeral port), ``connect_ms`` how
    long connect() took: the three-way handshake.  ``read()`` returns the
    server lines that arrived; ``expect(text)`` waits for one.
    """

    def __init__(self, address: tuple[str, int], name: str | None = None, *, rcvbuf: int | None = None,
                 tls=None, server_hostname: str | None = None, timeout: float = 5.0):
        from lab.chat.wire import LineDecoder

        self.name = name
        self.server = tuple(address)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.transport = None
        self.lines: list[str] = []  # every line received so far
        self.closed_by_server = False
        try:
            if rcvbuf:  # before connect(), so the window offered in the SYN is already small
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            began = time.perf_counter()
            self.sock.connect(self.server)
            self.connect_ms = (time.perf_counter() - began) * 1000
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local = self.sock.getsockname()[:2]
            if tls is not None:
                from lab.tls import TlsTransport

                self.transport = TlsTransport(self.sock, tls, server_side=False,
                                              server_hostname=server_hostname or self.server[0])
                self.transport.handshake(timeout)
            self._decoder = LineDecoder(max_line=1 << 20, max_unterminated=1 << 21)
            if name is not None:
                self.expect("What is your name?", timeout)
                self.send(name)
                self.expect("--- welcome:", timeout)
        except BaseException:
            self.sock.close()
            raise

    def __repr__(self) -> str:
        return f"<ChatPeer {self.name} {self.local[0]}:{self.local[1]} -> {self.server[0]}:{self.server[1]}>"

    def send(self, text: str) -> None:
        """Send one line (LF is added)."""
        data = text.encode() + b"\n"
        if self.transport is not None:
            self.transport.sendall(data)
        else:
            self.sock.sendall(data)

    def _recv(self, timeout: float) -> bytes | None:
        """Bytes that arrive within ``timeout`` (None if none did; b'' at the end)."""
        self.sock.settimeout(max(0.001, timeout))
        try:
            data = self.transport.recv(65536) if self.transport is not None else self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            return None
        if not data:
            self.closed_by_server = True
        return data

    def read(self, quiet: float = 0.3, limit: float = 3.0) -> list[str]:
        """The lines that arrive until nothing more came for ``quiet`` seconds (at most ``limit``)."""
        from lab.chat.wire import Line

        got: list[str] = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.closed_by_server:
            data = self._recv(min(quiet, deadline - time.monotonic()))
            if data is None:
                break
            got += [e.text for e in self._decoder.feed(data) if isinstance(e, Line)]
        self.lines += got
        return got

    def expect(self, text: str, timeout: float = 5.0) -> list[str]:
        """Read until a line containing ``text`` arrived; return the lines read (raises TimeoutError)."""
        from lab.chat.wire import Line

        got: list[str] = []
        deadline = time.monotonic() + timeout
        while not any(text in line for line in got):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed_by_server:
                self.lines += got
                raise TimeoutError(f"{self.name or 'the client'} did not receive {text!r} within {timeout:g} s")
            data = self._recv(remaining)
            if data:
                got += [e.text for e in self._decoder.feed(data) if isinstance(e, Line)]
        self.lines += got
        return got

    def quit(self, timeout: float = 3.0) -> list[str]:
        """/quit, then read until the server's FIN (recv() returns b''), then close: a FIN-FIN close."""
        self.send("/quit")
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while not self.closed_by_server and time.monotonic() < deadline:
            got += self.read(quiet=0.5, limit=deadline - time.monotonic())
        self.close()
        return got

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


_CHILD = r"""
import socket, sys, threading, time
try:  # Linux: die with the notebook's kernel, even if it is killed outright
    import ctypes; ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
except Exception:
    pass
port, name, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
buf = b""
while b"welcome:" not in buf:
    if b"What is your name?" in buf and name:
        s.sendall(name.encode() + b"\n"); name = ""
    chunk = s.recv(4096)
    if not chunk:
        sys.exit(1)
    buf += chunk
s.settimeout(None)
if mode == "reads":
    # a receiver thread reads everything, like `chatlab client`: nothing stays unread
    threading.Thread(target=lambda: [None for _ in iter(lambda: s.recv(4096), b"")], daemon=True).start()
print("ready", s.getsockname()[1], flush=True)
time.sleep(60)  # waits for Ctrl-C (SIGINT); the lesson stops it within seconds
"""


class ClientProcess:
    """A minimal chat client in its own Python process, so that it can get a real Ctrl-C.

    ``mode="reads"`` reads everything the server sends (a receiver thread);
    ``mode="stalled"`` reads nothing after joining.  ``ctrl_c()`` sends
    SIGINT, as the terminal does when you press Ctrl-C: Python raises
    KeyboardInterrupt, the process exits, and the *kernel* closes its socket.
    """

    def __init__(self, port: int, name: str, mode: str = "reads", timeout: float = 10.0):
        self.name, self.mode = name, mode
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(port), name, mode],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline().split() if ready else []
            if line[:1] != ["ready"]:
                raise RuntimeError(f"the client process {name!r} did not join the chat")
            self.port = int(line[1])
        except BaseException:
            self.stop()
            raise

    def ctrl_c(self, timeout: float = 5.0) -> int:
        """Send SIGINT (what Ctrl-C does) and wait for the process to exit; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        if self.proc.stdout is not None:
            self.proc.stdout.close()

"""A scripted chat peer for the graded tests: a raw TCP socket that reads lines."""

from __future__ import annotations

import re
import socket
import time


class Peer:
    """One test client: ``send`` lines, ``expect`` lines matching a pattern."""

    def __init__(self, address: tuple[str, int], name: str | None = None, timeout: float = 3.0,
                 receive_buffer: int | None = None) -> None:
        self.label = name or "peer"
        if receive_buffer is None:
            self.sock = socket.create_connection(address, timeout=timeout)
        else:
            # set before connect(): the window the SYN advertises (and its scale) follows the buffer
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(address)
            except OSError:
                self.sock.close()
                raise
        self.buffer = b""
        self.seen: list[str] = []  # every line received, in order
        self.closed_how: str | None = None  # "fin" / "rst" once the server closed
        if name is not None:
            self.send(name)

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")

    def _more(self, timeout: float) -> bool:
        """Receive once; False on timeout or when the connection has ended."""
        if self.closed_how:
            return False
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.closed_how = "rst"
            return False
        except OSError:
            self.closed_how = "error"
            return False
        if not data:
            self.closed_how = "fin"
            return False
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        self.seen += [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]
        return True

    def expect(self, pattern: str, timeout: float = 3.0, start: int = 0) -> str | None:
        """The first line (from index START of ``seen``) matching PATTERN (re.search), or None."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = start
        while True:
            for line in self.seen[checked:]:
                if regex.search(line):
                    return line
            checked = max(checked, len(self.seen))
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (not self._more(remaining) and self.closed_how):
                # one last look after the connection ended
                for line in self.seen[checked:]:
                    if regex.search(line):
                        return line
                return None

    def drain(self, duration: float = 0.3) -> list[str]:
        """Read whatever arrives for DURATION seconds; return all lines seen."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and self._more(deadline - time.monotonic()):
            pass
        return self.seen

    def wait_closed(self, timeout: float = 3.0) -> str:
        """Read until the server closes; "fin", "rst" or "timeout"."""
        deadline = time.monotonic() + timeout
        while not self.closed_how and time.monotonic() < deadline:
            self._more(deadline - time.monotonic())
        return self.closed_how or "timeout"

    def transcript(self) -> str:
        return f"{self.label} received: " + (repr(self.seen) if self.seen else "nothing")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def connect(story, address: tuple[str, int], name: str | None = None) -> Peer:
    """A Peer connected to ADDRESS, or a teaching failure when nobody listens there."""
    try:
        return Peer(address, name)
    except OSError as exc:
        error = exc
    # fail outside the except block: no chained traceback
    refused = " (an RST answered our SYN: nobody listens on that port)" if isinstance(error, ConnectionRefusedError) else ""
    story.fail(f"to connect to {address[0]}:{address[1]}", f"{type(error).__name__}: {error}{refused}")

"""Lesson 3 helpers: what recv() returns when TCP splits and merges messages."""

from __future__ import annotations

import socket
import threading
import time

from lab.notebook.display import show, table


def recv_all(sock: socket.socket, total: int | None = None, until: bytes | None = None,
             bufsize: int = 65536, timeout: float = 3.0) -> list[bytes]:
    """Call recv() until ``total`` bytes (or a chunk ending with ``until``) arrived; return each chunk.

    Each element of the list is what ONE recv() call returned.
    """
    chunks: list[bytes] = []
    got = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            data = sock.recv(bufsize)
        except (TimeoutError, socket.timeout):
            break
        if not data:
            break
        chunks.append(data)
        got += len(data)
        if (total is not None and got >= total) or (until is not None and data.endswith(until)):
            break
    return chunks


def show_chunks(chunks: list[bytes], title: str = "what each recv() returned", width: int = 70) -> None:
    """One row per recv() call: its length and the bytes (long ones shortened)."""
    rows = []
    for i, chunk in enumerate(chunks, 1):
        text = repr(chunk) if len(chunk) <= width else repr(chunk[:width // 2]) + " ... " + repr(chunk[-12:])
        rows.append({"recv() call": i, "bytes": len(chunk), "lines ended in it": chunk.count(b"\n"),
                     "data": text})
    show(table(rows, f"{title}: {len(chunks)} call(s), {sum(map(len, chunks))} bytes"))


def send_in_thread(sock: socket.socket, data: bytes, pieces: int = 1, pause: float = 0.0) -> threading.Thread:
    """sendall() ``data`` from a background thread, in ``pieces`` parts with ``pause`` s between them."""
    size = -(-len(data) // pieces)

    def run() -> None:
        try:
            for i in range(0, len(data), size):
                sock.sendall(data[i:i + size])
                if pause:
                    time.sleep(pause)
        except OSError:
            pass

    thread = threading.Thread(target=run, name="notebook-sender", daemon=True)
    thread.start()
    return thread


def wait_queued(sock: socket.socket, size: int, timeout: float = 3.0) -> int:
    """Wait (at most ``timeout`` s) until ``sock``'s receive buffer holds ``size`` bytes; return how many it holds.

    The kernel's count of bytes received and not yet read (FIONREAD, the
    same number as SIOCINQ and the Recv-Q column of `ss`).
    """
    import fcntl
    import struct
    import termios

    deadline = time.monotonic() + timeout
    while True:
        queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        if queued >= size or time.monotonic() >= deadline:
            return queued
        time.sleep(0.005)

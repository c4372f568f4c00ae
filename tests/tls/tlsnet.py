"""Helpers for the TLS tests: real sockets on 127.0.0.1, real threads."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any, Callable

from lab.tls import TlsTransport


class Result:
    """What a helper thread returned or raised."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, Result]:
    """Run ``fn`` in a daemon thread; its return value or exception lands in the Result."""
    result = Result()

    def body() -> None:
        try:
            result.value = fn()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            result.error = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, result


def connect_pair(
    listener: socket.socket,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    hostname: str = "localhost",
    timeout: float = 5.0,
    closer: Callable[[socket.socket], None] | None = None,
) -> tuple[TlsTransport | BaseException, TlsTransport | BaseException]:
    """Connect a client to ``listener`` and run both handshakes (server in a
    thread, client here).  Returns (server side, client side): each a
    transport, or the exception its handshake raised."""

    def serve() -> TlsTransport:
        conn, _addr = listener.accept()
        conn.settimeout(None)
        if closer:
            closer(conn)
        t = TlsTransport(conn, server_ctx, server_side=True)
        t.handshake(timeout)
        return t

    thread, result = in_thread(serve)
    sock = socket.create_connection(listener.getsockname(), timeout=timeout)
    sock.settimeout(None)
    if closer:
        closer(sock)
    client: TlsTransport | BaseException
    try:
        client = TlsTransport(sock, client_ctx, server_side=False, server_hostname=hostname)
        client.handshake(timeout)
    except Exception as exc:  # noqa: BLE001
        client = exc
    thread.join(timeout + 5)
    assert not thread.is_alive(), "the server handshake did not return"
    return (result.error if result.error else result.value), client


class LineReader:
    """Split the plaintext a transport returns into lines (LF-terminated)."""

    def __init__(self, transport: TlsTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def lines(self, limit: int):
        """Yield up to ``limit`` lines; stop early at EOF."""
        count = 0
        while count < limit:
            while b"\n" not in self.buffer:
                data = self.transport.recv(4096)
                if not data:
                    return
                self.buffer += data
            line, self.buffer = self.buffer.split(b"\n", 1)
            count += 1
            yield line


class Outbox:
    """The chat server's delivery design, in miniature: senders encode and
    try a non-blocking send under the recipient's outbox lock; what does not
    fit waits in a bounded backlog that one writer thread drains.  The lock
    is never held across a blocking call."""

    def __init__(self, transport: TlsTransport, limit: int = 8 * 1024 * 1024) -> None:
        self.t = transport
        self.sock = transport.sock
        self.lock = threading.Lock()
        self.backlog = bytearray()
        self.limit = limit
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.overflow = False
        self.queued = 0  # how many times wire bytes had to wait in the backlog
        self.writer = threading.Thread(target=self._drain, daemon=True)
        self.writer.start()
        transport.on_wire_pending = self.flush_pending

    def deliver(self, plaintext: bytes) -> None:
        with self.lock:
            self._push(self.t.encode(plaintext))

    def flush_pending(self) -> None:
        with self.lock:
            self._push(self.t.pending_wire())

    def _push(self, wire: bytes) -> None:
        if not wire:
            return
        if not self.backlog:
            try:
                sent = self.sock.send(wire, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                sent = 0
            wire = wire[sent:]
        if wire:
            if len(self.backlog) + len(wire) > self.limit:
                self.overflow = True  # a real server drops the client here
                return
            self.backlog += wire
            self.queued += 1
            self.ready.set()

    def _drain(self) -> None:
        import select

        while not self.stop.is_set():
            if not self.ready.wait(0.05):
                continue
            select.select([], [self.sock], [], 0.05)
            with self.lock:
                if self.backlog:
                    try:
                        sent = self.sock.send(self.backlog, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except OSError:
                        return
                    del self.backlog[:sent]
                if not self.backlog:
                    self.ready.clear()

    def wait_empty(self, timeout: float) -> bool:
        """True once the backlog has drained (bounded wait)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.backlog:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.stop.set()
        self.writer.join(2)

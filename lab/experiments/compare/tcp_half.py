"""The TCP half of the experiment (I/O): the scripted chat over the lab's ChatServer."""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Callable

from lab.experiments.compare.accounting import PORT, RECEIVER, SENDER, DeliveryAccount, message_index, message_text

TCP_DRAIN_TIMEOUT = 30.0  # how long the receiver may wait for TCP to repair everything


class _LineSocket:
    """A TCP client socket that returns whole server lines (CRLF-terminated)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def lines(self, timeout: float) -> list[str]:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return []
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\r\n")
        return [line.decode("utf-8", errors="replace") for line in complete]

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in self.lines(0.2)):
                return
        raise TimeoutError(f"no {needle!r} from the server within {timeout:g} s")


def _tcp_member(make_socket: Callable[[], socket.socket], server: tuple[str, int], name: str) -> _LineSocket:
    sock = make_socket()
    sock.settimeout(20)
    sock.connect(server)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one segment per line: easier to see
    member = _LineSocket(sock)
    sock.sendall(name.encode() + b"\r\n")
    member.wait_for("--- welcome:", 10)
    return member


def run_tcp_half(server_ns: Callable, client_ns: Callable[[int], Callable], server_host: str,
                 messages: int, interval: float, set_loss: Callable[[bool], None],
                 port: int = PORT) -> dict:
    """The scripted chat over TCP with the lab's ChatServer. Returns the TCP result dict."""
    from lab.lifecycle import EventLog
    from lab.tcp.server import ChatServer, ServerConfig
    from lab.net.tcpinfo import read_tcp_info

    log = EventLog(verbosity=0)
    closed: list = []
    log.subscribe(lambda e: closed.append(e) if e.kind == "closed" else None)
    # The server's flood limit (10 lines/s) would pace our sender; the
    # experiment is about loss, so it is lifted here.
    config = ServerConfig(host=server_host, port=port, rate=1e6, burst=10**6, shutdown_grace=0.5)
    server = ChatServer(config, log=log)
    with server_ns():
        server.start()
    sockets = []
    try:
        def tcp_socket():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            return s

        with client_ns(2):
            receiver = _tcp_member(tcp_socket, server.address, RECEIVER)
        with client_ns(1):
            sender = _tcp_member(tcp_socket, server.address, SENDER)
        receiver.wait_for(f"{SENDER} joined", 10)
        account = DeliveryAccount()
        done = threading.Event()
        failure: list[str] = []

        def receive() -> None:
            deadline = time.monotonic() + messages * interval + TCP_DRAIN_TIMEOUT
            try:
                while time.monotonic() < deadline and not done.is_set():
                    for line in receiver.lines(0.1):
                        index = message_index(line)
                        if index is not None:
                            account.arrived(index, time.monotonic())
                    if len(account.first_arrival) >= messages:
                        return
            except (OSError, ConnectionError) as exc:
                failure.append(str(exc))

        thread = threading.Thread(target=receive, name="tcp-receiver", daemon=True)
        set_loss(True)
        try:
            thread.start()
            start = time.monotonic()
            for i in range(1, messages + 1):
                _pace(start, i, interval)
                account.sent(i, time.monotonic())
                sender.sock.sendall(message_text(i).encode() + b"\r\n")
            thread.join(messages * interval + TCP_DRAIN_TIMEOUT + 1)
            done.set()
        finally:
            set_loss(False)
        for member in (sender, receiver):
            try:
                member.sock.sendall(b"/quit\r\n")
                member.wait_for("--- bye", 5)
            except (OSError, TimeoutError, ConnectionError):
                pass
        # The kernels' counts only now: the server's "bye" acknowledged every
        # byte, so no retransmission can follow.  Read when the last message
        # arrived, they missed the sender's late (spurious) retransmissions:
        # measured 22 against 40 segments on the wire, on a busy machine.
        sender_info = read_tcp_info(sender.sock)
        receiver_info = read_tcp_info(receiver.sock)
    finally:
        for s in sockets:
            s.close()
        server.stop()
    # stop() waits a bounded time for the reader threads; on a busy machine one
    # may report its connection closed (with its TCP_INFO) a little later.
    deadline = time.monotonic() + 5
    while len(closed) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    result = account.result()
    server_retrans = sum((e.tcp_info or {}).get("total_retrans", 0) for e in closed)
    kernel = {"sender": sender_info.total_retrans if sender_info else None,
              "receiver": receiver_info.total_retrans if receiver_info else None,
              "server": server_retrans}
    result["tcp_info_total_retrans"] = kernel
    result["retransmissions_tcp_info"] = sum(v for v in kernel.values() if v)
    result["in_order"] = result["out_of_order"] == 0 and result["duplicated"] == 0
    if failure:
        result["error"] = failure[0]
    return result


def _pace(start: float, i: int, interval: float) -> None:
    """Sleep until message ``i`` is due: a steady rate, not drifting with send times."""
    delay = start + (i - 1) * interval - time.monotonic()
    if delay > 0:
        time.sleep(delay)

"""The UDP chat clients with their sockets: ``UdpChatClient`` is the scripted
client (tests, compare, notebooks) and ``run_udp_client`` the interactive one
that `chatlab client --udp` runs, sending a keepalive every
``KEEPALIVE_INTERVAL``; both let ``UdpClientCore`` decide.
"""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from typing import TextIO

from lab.chat import wire as p
from lab.net.sockopts import family_for
from lab.udp.client_core import UdpClientCore
from lab.udp.datagrams import KEEPALIVE

KEEPALIVE_INTERVAL = 10.0
"""The client sends ``K`` when it has sent nothing for this long (3 per timeout)."""


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
        self._send(self.core.line(text))

    def keepalive(self) -> None:
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

    def lines(self, timeout: float = 0.0) -> list[str]:
        self.poll(timeout)
        return [line for _, line in self.received]

    def close(self) -> None:
        self.sock.close()


# --- the interactive client -------------------------------------------------

def run_udp_client(host: str, port: int = p.DEFAULT_PORT, name: str | None = None, *,
                   stdin: TextIO | None = None, out: TextIO | None = None, console=None, log=None,
                   keepalive: float = KEEPALIVE_INTERVAL, join_attempts: int = 20) -> int:
    """Chat over UDP from a terminal: lines typed are sent, server lines printed.

    Returns the exit status (0 after /quit or end of input, 1 if the server
    never answered).  Lost, duplicated and reordered lines are counted and
    reported when the client ends.
    """
    stdin = stdin or sys.stdin
    out = out or sys.stdout

    def say(text: str) -> None:
        if console is not None:
            console.print(text)  # the caller's console is made with markup=False
        else:
            print(text, file=out, flush=True)

    def note(text: str) -> None:
        if log is not None:
            from lab import lifecycle as ev

            log.emit(ev.Note(side="client", text=text))
    while not name:
        say("What is your name?")
        name = stdin.readline().strip()
        if not name and stdin.closed:
            return 1
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        say(f"chatlab client: cannot resolve {host!r}: {exc.strerror}")
        return 1
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # connect() on UDP sends nothing: it only fixes the peer, so recv() gets
    # datagrams from the server alone and an ICMP "port unreachable" shows up
    # as ConnectionRefusedError, the only sign that nobody is listening.
    sock.connect(sockaddr)
    local = sock.getsockname()
    note(f"UDP socket {local[0]}:{local[1]} -> {sockaddr[0]}:{sockaddr[1]}: connect() on UDP sends nothing, it only "
         f"fixes the peer; {local[1]} is the ephemeral port the OS chose")
    core = UdpClientCore(name)
    lock = threading.Lock()
    last_sent = [time.monotonic()]
    done = threading.Event()

    def send(data: bytes) -> None:
        with lock:
            last_sent[0] = time.monotonic()
            try:
                sock.send(data)
            except OSError:
                pass

    def show(lines) -> None:
        for line in lines:
            say(line)

    def receive_some(timeout: float) -> bool:
        """Wait up to ``timeout`` for one datagram and handle it; False if the port is closed."""
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return True
        try:
            data = sock.recv(65535)
        except ConnectionRefusedError:
            return False
        except OSError:
            return True
        show(core.receive(data))
        if core.reply:
            send(core.reply)
        return True

    # Join: UDP has no handshake, so we resend the join until the welcome
    # (or a refusal) arrives; any of our datagrams may be lost.
    say(f"joining udp {sockaddr[0]}:{sockaddr[1]} as {name} ...")
    for _ in range(join_attempts):
        send(core.join_datagram())
        deadline = time.monotonic() + 0.5
        refused_port = False
        while time.monotonic() < deadline and not core.joined and not core.refused:
            if not receive_some(max(0.0, deadline - time.monotonic())):
                refused_port = True
                break
        if refused_port:
            say(f"chatlab client: nothing listens on udp port {sockaddr[1]} at {sockaddr[0]} "
                "(an ICMP port unreachable came back); start `chatlab server --udp` first")
            sock.close()
            return 1
        if core.refused:
            say("choose another name:")
            new = stdin.readline().strip()
            if not new:
                sock.close()
                return 1
            core.rename(new)
            continue
        if core.joined:
            note(f"joined as {core.name}: our cookie echo proved our address, no handshake needed")
            break
    if not core.joined:
        say(f"chatlab client: no answer from udp {sockaddr[0]}:{sockaddr[1]} after {join_attempts} joins "
            "(UDP cannot tell a silent server from a lost datagram)")
        sock.close()
        return 1

    def receiver() -> None:
        while not done.is_set():
            if not receive_some(0.2):
                say("--- the server's port is closed (ICMP port unreachable)")
            if time.monotonic() - last_sent[0] >= keepalive:
                send(KEEPALIVE)

    thread = threading.Thread(target=receiver, name="udp-client-receiver", daemon=True)
    thread.start()
    try:
        for raw in stdin:
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                send(core.line(text))
            except ValueError as exc:
                say(f"!!! not sent: {exc}")
                continue
            if text.strip().split()[0].lower() == "/quit":
                break
        else:
            send(core.line("/quit"))
        time.sleep(0.3)  # let the bye arrive
    except KeyboardInterrupt:
        send(core.line("/quit"))
    finally:
        done.set()
        thread.join(1)
        sock.close()
    d = core.downstream
    say(f"--- udp: {d.received} lines from the server, {d.lost} lost, {d.duplicated} duplicated, "
        f"{d.out_of_order} out of order")
    return 0

"""The tutorial chat server: a teaching exhibit of what goes wrong.

THIS IS NOT THE REFERENCE SERVER (that is ``lab/tcp/server.py``).  It is the
design found in most socket tutorials, kept in the kit on purpose so that a
class can watch it fail::

    chatlab server --naive --port 5051
    chatlab load 127.0.0.1 --port 5051 --clients 200 --senders 20 --stalled 1

The design, in three lines:

1. one thread per client, which reads that client's lines;
2. ONE global lock that protects the list of members;
3. to broadcast, the sender's thread takes the lock and calls the blocking
   ``sendall()`` on every member's socket, one after the other, while it
   still holds the lock.

It is fast when every client reads promptly: ``sendall()`` only copies bytes
into the kernel's send buffer and returns.  It breaks as soon as ONE client
stops reading (a laptop that went to sleep, a student who pressed Ctrl-S, a
mischievous ``nc`` that never reads).  Its TCP receive window fills, so the
server's kernel send buffer for that socket fills, so ``sendall()`` to it
*blocks* -- forever, because TCP never gives up on a peer that still ACKs
with a zero window.  The blocked thread holds the global lock, so every
other client's thread blocks on ``lock.acquire()`` the next time it has a
line to broadcast, and the whole room freezes.  Nobody gets any message any
more, although 999 of 1,000 clients are perfectly healthy.

What it speaks of docs/PROTOCOL.md is just enough for ``chatlab client`` and
``chatlab load``: the ``--- hello:`` line, a name (unique ignoring case),
``--- welcome:``, ``HH:MM:SS <name> text`` broadcasts, join/leave events,
``/quit``; CRLF line ends.  No history, no private messages, no limits, no
sanitising: it is an exhibit, not a server to run for a class.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Callable

from lab.net.sockopts import close_listener, family_for

Log = Callable[[str], None]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,15}$")


def _now() -> str:
    return time.strftime("%H:%M:%S")


class NaiveChatServer:
    """The tutorial design: thread per client, one lock, blocking sendall.

    ``start()`` returns once the socket is listening; ``address`` is the
    (host, port) it is bound to; ``stop()`` closes everything and returns
    within about a second.  ``sndbuf`` sets SO_SNDBUF on every client socket
    (a small value makes the freeze happen sooner); ``nodelay`` sets
    TCP_NODELAY (tutorials usually leave Nagle on, which adds tens of
    milliseconds of delay to small lines).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Log | None = None,
        *,
        sndbuf: int | None = None,
        nodelay: bool = False,
        backlog: int = 1024,
    ) -> None:
        self._host, self._port = host, port
        self._log = log or (lambda message: None)
        self._sndbuf, self._nodelay, self._backlog = sndbuf, nodelay, backlog
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()  # THE global lock (see the module docstring)
        self._members: dict[socket.socket, str] = {}
        self._all: set[socket.socket] = set()  # every open client socket, for stop()
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on (the real port when port=0)."""
        if self._listener is None:
            raise RuntimeError("the server is not started")
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> None:
        """Bind, listen, and accept in a background thread."""
        listener = socket.socket(family_for(self._host), socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        listener.listen(self._backlog)
        self._listener = listener
        self._log(f"naive server listening on {self.address[0]} port {self.address[1]}")
        self._accept_thread = threading.Thread(target=self._accept_loop, name="naive-accept", daemon=True)
        self._accept_thread.start()

    def stop(self) -> None:
        """Close the listening socket and every client connection."""
        self._stopping.set()
        if self._listener is not None:
            close_listener(self._listener)  # shutdown(), then close(): wakes the thread blocked in accept()
        for sock in list(self._all):
            try:
                # shutdown() wakes a thread blocked in sendall() on this socket
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(1.0)

    # -- the tutorial code ------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            if self._sndbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._sndbuf)
            if self._nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._all.add(sock)
            threading.Thread(target=self._client, args=(sock, peer), daemon=True).start()

    def _broadcast(self, line: str, skip: socket.socket | None = None) -> None:
        data = line.encode("utf-8", "replace")
        with self._lock:  # <-- held across blocking sends: THE bug this exhibit shows
            for member in list(self._members):
                if member is skip:
                    continue
                try:
                    member.sendall(data)  # blocks while this member's buffers are full
                except OSError:
                    pass  # its own thread notices the broken connection

    def _client(self, sock: socket.socket, peer) -> None:
        name = None
        reason = "closed"
        buffer = b""
        try:
            sock.sendall(f"{_now()} --- hello: welcome to chat-lab (naive server)! What is your name?\r\n".encode())
            while not self._stopping.is_set():
                data = sock.recv(4096)
                if not data:
                    break
                buffer += data
                *lines, buffer = re.split(rb"\r\n|\r|\n", buffer)
                for raw in lines:
                    text = raw.decode("utf-8", "replace").strip()
                    if not text:
                        continue
                    if name is None:
                        name = self._register(sock, text)
                        continue
                    if text.startswith("/quit"):
                        reason = "quit"
                        sock.sendall(f"{_now()} --- bye: goodbye\r\n".encode())
                        return
                    if text.startswith("//"):
                        text = text[1:]
                    elif text.startswith("/"):
                        sock.sendall(f"{_now()} !!! unknown-command: the naive server knows only /quit\r\n".encode())
                        continue
                    self._broadcast(f"{_now()} <{name}> {text}\r\n", skip=sock)
        except ConnectionResetError:
            reason = "reset"
        except OSError:
            reason = "closed"
        finally:
            self._all.discard(sock)
            with self._lock:
                was_member = self._members.pop(sock, None) is not None
            sock.close()
            if was_member:
                self._log(f"{name} left ({reason})")
                self._broadcast(f"{_now()} *** {name} left ({reason})\r\n")

    def _register(self, sock: socket.socket, wanted: str) -> str | None:
        if not _NAME.match(wanted):
            sock.sendall(f"{_now()} !!! name-invalid: 1-16 letters, digits, _ or -, starting with a letter\r\n".encode())
            return None
        with self._lock:
            if wanted.lower() in (n.lower() for n in self._members.values()):
                taken = True
            else:
                taken = False
                self._members[sock] = wanted
                online = len(self._members)
        if taken:
            sock.sendall(f"{_now()} !!! name-taken: {wanted} is in use, choose another\r\n".encode())
            return None
        sock.sendall(f"{_now()} --- welcome: you are {wanted}; {online} online.\r\n".encode())
        self._log(f"{wanted} joined")
        self._broadcast(f"{_now()} *** {wanted} joined\r\n", skip=sock)
        return wanted

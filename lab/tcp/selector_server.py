"""The chat with ONE thread: selectors, non-blocking sockets, a bounded buffer per member.

A teaching exhibit, shown in lesson 4 beside the threaded reference server
(``lab/tcp/server.py``).  Both serve the same room (``lab.chat.room``) and cut
lines with the same parser (``lab.chat.wire.LineDecoder``); only the I/O
design differs.

With blocking calls, one thread can wait in only one ``accept()`` or
``recv()`` at a time, hence a thread per client.  The other classic answer
is to ask the kernel *which* sockets are ready and never call anything that
could wait: ``select()``/``poll()``/``epoll()``, which Python's ``selectors``
module wraps (``DefaultSelector`` is epoll on Linux).  The loop:

1. ``select()`` waits until at least one socket is ready (or a timeout);
2. the listening socket is readable: ``accept()`` the waiting connections;
3. a client socket is readable: ``recv()`` what has arrived (it cannot
   block: the data is there), cut it into lines, let the room decide;
4. a member has bytes waiting and its socket is writable: ``send()`` what the
   kernel takes now, keep the rest in that member's buffer.

Every socket is non-blocking, so nothing the loop does can wait for one
slow client.  A member's buffer is bounded (``send_limit``): past it the
member is dropped ("send queue exceeded"), as the reference server does,
and everyone else carries on.  Holding no lock at all is safe because one
thread does everything: there is nobody to race with.

Left out on purpose (see the reference server for them): TLS, the flood
limit, the name timeout, keepalive, the maximum number of clients.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from lab import lifecycle as ev
from lab.chat import limits, replies
from lab.chat import wire as p
from lab.chat.room import Close, Deliver, Room
from lab.net.tcpinfo import read_tcp_info

SEND_LIMIT = limits.SEND_QUEUE_BYTES  # bytes kept for one member beyond its kernel buffer (the reference server's default)


@dataclass(eq=False)
class _Member:
    """One connection: its socket, its line decoder, the bytes it has not taken yet."""

    number: int
    sock: socket.socket
    client: tuple
    decoder: p.LineDecoder = field(default_factory=p.LineDecoder)
    outbox: bytearray = field(default_factory=bytearray)
    name: str | None = None
    quitting: str | None = None  # the /quit reason: close once the outbox is empty
    closed: bool = False
    started: float = field(default_factory=time.time)
    bytes_in: int = 0
    bytes_out: int = 0
    lines_in: int = 0
    lines_out: int = 0


class SelectorChatServer:
    """The chat server as one event loop (see the module docstring).

    ``start()`` binds, listens and starts the loop's thread; ``address`` is
    (host, port); ``stop()`` tells the members, closes everything and
    returns within about a second.  ``log`` receives the same lifecycle
    events as the reference server's (accepted, named, closed, stopped).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, send_limit: int = SEND_LIMIT,
                 sndbuf: int | None = None, log: ev.EventLog | None = None):
        self._host, self._port = host, port
        self.send_limit = send_limit
        self._sndbuf = sndbuf
        self.log = log or ev.EventLog(verbosity=0)
        self.room = Room()
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()  # stop() writes a byte: select() returns at once
        self._members: set[_Member] = set()
        self._numbers = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on (the real port when port=0)."""
        if self._listener is None:
            raise RuntimeError("start() the server first")
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> "SelectorChatServer":
        """Listen, and run the event loop in one background thread."""
        self._listener = socket.create_server((self._host, self._port), backlog=1024)  # SO_REUSEADDR set
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.log.emit(ev.Listening(address=self.address, backlog=1024, transport="TCP (one thread, selectors)"))
        self._thread = threading.Thread(target=self._loop, name="selector-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self, reason: str = "the server is stopping") -> None:
        """End the loop: it tells every member, sends what it can without waiting, closes all.  Idempotent."""
        if self._stop.is_set():
            return
        self._stop_reason = reason
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(2)

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                for key, mask in self._selector.select(timeout=0.5):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        continue
                    else:
                        member = key.data
                        if mask & selectors.EVENT_READ and not member.closed:
                            self._read(member)
                        if mask & selectors.EVENT_WRITE and not member.closed:
                            self._flush(member)
        finally:
            self._shutdown()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, client = self._listener.accept()
            except BlockingIOError:
                return  # no more connections waiting
            except OSError:
                return  # e.g. the client gave up before we accepted it
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._sndbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._sndbuf)
            self._numbers += 1
            member = _Member(self._numbers, sock, client)
            self._members.add(member)
            self._selector.register(sock, selectors.EVENT_READ, member)
            self.log.emit(ev.Accepted(conn=member.number, client=client, server=sock.getsockname()))
            self._apply(self.room.hello(member))

    def _read(self, member: _Member) -> None:
        try:
            data = member.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self._end(member, "rst")
            return
        except OSError as error:
            self._end(member, "error", error.strerror or str(error))
            return
        if not data:
            self._end(member, "fin")
            return
        member.bytes_in += len(data)
        for event in member.decoder.feed(data):
            if member.closed:
                return
            if isinstance(event, p.NoLineEnd):
                self._queue(member, p.encode(replies.no_line_end(time.time(), event.limit)))
                self._end(member, "dropped", f"no line end in {event.limit} bytes")
                return
            if isinstance(event, p.LineTooLong):
                self._queue(member, p.encode(replies.line_too_long(time.time(), event.length, event.limit)))
                continue
            member.lines_in += 1
            if member.name is None:
                result = self.room.join(member, event.text)
                if result.accepted:
                    member.name = result.name
                    self.log.emit(ev.Named(conn=member.number, name=member.name))
                self._apply(result.actions)
            else:
                self._apply(self.room.receive(member, event.text))

    # -- carrying out the room's decisions, without ever waiting --------------------------------

    def _apply(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, Deliver):
                data = p.encode_lines(action.lines)
                for member in action.recipients:
                    self._queue(member, data)
            elif isinstance(action, Close):
                member = action.member
                member.quitting = action.reason
                if not member.outbox and not member.closed:
                    self._end(member, "quit", action.reason)

    def _queue(self, member: _Member, data: bytes) -> None:
        """Give ``data`` to a member: sent now as far as the kernel takes it, the rest kept (bounded)."""
        if member.closed:
            return
        member.outbox += data
        member.lines_out += data.count(b"\n")
        self._flush(member)
        if not member.closed and len(member.outbox) > self.send_limit:
            self._end(member, "dropped", "send queue exceeded")

    def _flush(self, member: _Member) -> None:
        """Send what the kernel takes now; watch for writability only while bytes are left."""
        if member.outbox:
            try:
                sent = member.sock.send(member.outbox)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                self._end(member, "rst" if isinstance(error, ConnectionResetError) else "error",
                          error.strerror or str(error))
                return
            del member.outbox[:sent]
            member.bytes_out += sent
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if member.outbox else 0)
        if self._selector.get_key(member.sock).events != events:
            self._selector.modify(member.sock, events, member)
        if not member.outbox and member.quitting is not None:
            self._end(member, "quit", member.quitting)

    def _end(self, member: _Member, how: str, detail: str = "") -> None:
        """The one exit path of a connection: tell the room, close the socket, report."""
        if member.closed:
            return
        member.closed = True
        tcp_info = read_tcp_info(member.sock)
        self._selector.unregister(member.sock)
        self._members.discard(member)
        try:
            member.sock.close()  # a FIN, or an RST if the member's data is still unread
        except OSError:
            pass
        self.log.emit(ev.Closed(conn=member.number, how=how, detail=detail, name=member.name, peer=member.client,
                                bytes_in=member.bytes_in, bytes_out=member.bytes_out, lines_in=member.lines_in,
                                lines_out=member.lines_out,
                                duration=time.time() - member.started,
                                tcp_info=tcp_info.to_dict() if tcp_info else None))
        if member.name is not None and not self._stop.is_set():
            self._apply(self.room.leave(member, replies.leave_reason(how, detail)))

    def _shutdown(self) -> None:
        reason = getattr(self, "_stop_reason", "the server is stopping")
        for action in self.room.shutdown(reason):
            if not isinstance(action, Deliver):
                continue
            for member in action.recipients:
                if not member.closed:
                    member.outbox += p.encode_lines(action.lines)
                    try:
                        member.sock.send(member.outbox)  # once, without waiting: a slow member misses it
                    except OSError:
                        pass
        for member in list(self._members):
            self._end(member, "shutdown")
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._selector.close()
        self.log.emit(ev.Stopped(reason=reason))

"""The reference threaded TCP chat server.

The shape is the classic one from the lab's description:

1. create a TCP socket, ``bind`` it to an address and port, ``listen``;
2. ``accept`` connections in a loop; each returns a *new* socket for one
   client, identified by its 4-tuple (client IP, client port, server IP,
   server port);
3. start one thread per client that reads its lines with ``recv``;
4. broadcast each line to all the other clients, keeping the list of
   active connections safe under concurrency.

What the chat *means* (names, commands, history, who receives what, and the
words of every reply) is decided by ``lab.chat.room``, ``lab.chat.wire`` and
``lab.chat.replies``, which have no sockets; every default limit is in
``lab.chat.limits``.  How bytes reach each client without a slow one stalling
everybody is ``lab.tcp.delivery``; plain TCP or TLS is ``lab.tcp.transport``.
This module connects them to real sockets and threads, and reports every
connection's life to a ``lab.lifecycle.EventLog``.
"""

from __future__ import annotations

import contextlib
import errno
import _thread
import operator
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from lab import lifecycle as ev
from lab.chat import limits, replies
from lab.chat import wire as p
from lab.chat.ratelimit import TokenBucket
from lab.chat.room import Close, Deliver, Room
from lab.net.sockopts import close_listener, explain_bind_error, family_for, raise_fd_limit
from lab.net.tcpinfo import read_tcp_info
from lab.tcp.delivery import SEND_FLAGS, BacklogWriter, Fanout, Outbox
from lab.tcp.transport import PlainTransport, Transport
from lab.tls.detect import looks_like_tls_client_hello


class ServerError(Exception):
    """A problem starting the server, worded for the person who started it."""


@dataclass
class ServerConfig:
    """Every limit of the server (docs/PROTOCOL.md and docs/ROBUSTNESS.md); defaults from lab.chat.limits."""

    host: str = "0.0.0.0"
    port: int = limits.DEFAULT_PORT
    backlog: int = limits.LISTEN_BACKLOG  # listen() queue of completed handshakes not yet accepted
    max_clients: int = limits.MAX_CLIENTS
    history: int = limits.HISTORY_SIZE
    send_queue: int = limits.SEND_QUEUE_BYTES  # bytes waiting for one slow client, beyond its kernel buffer
    sndbuf: int | None = None  # SO_SNDBUF of client sockets (None: the kernel's default)
    max_line: int = limits.MAX_LINE_BYTES
    max_unterminated: int = limits.MAX_UNTERMINATED_BYTES
    name_timeout: float = limits.NAME_TIMEOUT_S  # seconds to choose a name
    keepalive_idle: int = limits.KEEPALIVE_IDLE_S  # TCP keepalive: first probe after this many idle seconds,
    keepalive_interval: int = limits.KEEPALIVE_INTERVAL_S  # then one probe every this many seconds,
    keepalive_count: int = limits.KEEPALIVE_COUNT  # and the peer is declared dead after this many unanswered
    rate: float = limits.RATE_LINES_PER_S  # lines per second per client, sustained
    burst: int = limits.BURST_LINES  # lines a client may send at once
    tls: Any = None  # an ssl.SSLContext for the server side, or None for plain TCP
    tls_handshake_timeout: float = limits.TLS_HANDSHAKE_TIMEOUT_S
    shutdown_grace: float = limits.SHUTDOWN_GRACE_S  # seconds to let clients receive the goodbye


class _Ended(Exception):
    """The reader thread stops; ``how`` is a key of lifecycle.ENDINGS."""

    def __init__(self, how: str, detail: str = ""):
        super().__init__(how, detail)
        self.how = how
        self.detail = detail


READ_SIZE = 256
"""Bytes asked of each ``recv()``.  A reader thread spends its life blocked
in ``recv()``, and CPython allocates the buffer for the answer *before* the
call sleeps: with 4096, 1,000 idle clients held 3.5 MiB more (measured: 28.6
KiB resident per idle client against 25.0 with 256; docs/PERFORMANCE.md).
A chat line is shorter than this; a longer one arrives in a few reads, which
the line decoder joins."""


_ENDING = threading.Lock()  # guards Connection.end: taken once or twice in a connection's life, so one lock for all


class Connection:
    """One accepted client: its socket, its outbox, its counters."""

    def __init__(self, number: int, sock: socket.socket, client: tuple, server: tuple):
        self.number = number
        self.sock = sock
        self.client = client
        self.server = server
        self.started = time.time()
        self.name: str | None = None
        self.transport: Transport = PlainTransport(sock)
        self.outbox: Outbox | None = None
        self.bytes_in = 0
        self.lines_in = 0
        self.end: tuple[str, str] | None = None  # (how, detail), set once

    def end_once(self, how: str, detail: str = "") -> bool:
        """Record how the connection ends; only the first call counts."""
        with _ENDING:
            if self.end is not None:
                return False
            self.end = (how, detail)
            return True

    def abort(self, how: str, detail: str = "") -> None:
        """End the connection from another thread: wakes its reader's recv()."""
        if self.end_once(how, detail):
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def overflowed(self) -> None:
        """Its outbox's backlog passed the bound: the client is not reading, drop it (never blocks)."""
        self.abort("dropped", "send queue exceeded")

    def __repr__(self) -> str:
        return f"<Connection #{self.number} {self.name or '?'} {self.client}>"


class ChatServer:
    """A threaded TCP chat server::

        server = ChatServer(ServerConfig(host="127.0.0.1", port=0))
        server.start()            # bound and listening; returns at once
        server.address            # ('127.0.0.1', 43817)
        server.stop()             # tells the members, closes everything

    ``serve_forever()`` blocks until ``stop()`` or ``request_stop()``
    (Ctrl-C in the command line calls the latter from the main thread).
    """

    def __init__(self, config: ServerConfig | None = None, log: ev.EventLog | None = None):
        self.config = config or ServerConfig()
        self.log = log or ev.EventLog(verbosity=0)
        self.room = Room(history_size=self.config.history)
        # Two locks, neither ever held across a blocking call: _lock guards
        # the room and the connections, and orders the room's decisions as
        # they are queued to the members' outboxes (held for microseconds);
        # the fanout's delivery lock is held by the one thread that sends
        # what is queued, in passes over the members (lab/tcp/delivery.py).
        self._lock = threading.Lock()
        self._fanout = Fanout()
        self._connections: set[Connection] = set()
        self._numbers = 0
        self._server_sides: dict[tuple, tuple] = {}  # each local address once (146 bytes a client otherwise)
        self._listener: socket.socket | None = None
        self._writer = BacklogWriter()
        self._readers = ReaderThreads()
        self._name_deadlines = NameDeadlines(self.config.name_timeout, self._name_deadline_passed)
        self._accept_thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._stopping = False

    # -- life of the server ---------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the real port when 0 was asked for)."""
        assert self._listener is not None, "start() the server first"
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> None:
        """Create the listening socket and start accepting connections."""
        # One descriptor per client, plus a few for the server itself.
        limit = raise_fd_limit(self.config.max_clients + 64)
        self._listener = self._listen()
        if limit < self.config.max_clients + 64:
            self.log.emit(ev.Note(text=f"this process may open only {limit} files (RLIMIT_NOFILE), so about "
                                       f"{limit - 64} clients at once, not {self.config.max_clients}: "
                                       "raise it with `ulimit -n` (the hard limit needs root)"))
        self.log.emit(ev.Listening(address=self.address, backlog=self.config.backlog,
                                   transport="TCP+TLS" if self.config.tls else "TCP"))
        self._writer.start()
        self._name_deadlines.start()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="accept", daemon=True)
        self._accept_thread.start()

    def serve_forever(self) -> None:
        """Serve until ``request_stop()`` (or Ctrl-C in the main thread); then stop."""
        if self._listener is None:
            self.start()
        try:
            while not self._stop_requested.wait(0.25):
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask ``serve_forever`` to stop; safe from signal handlers and other threads."""
        self._stop_requested.set()

    def stop(self, reason: str = "the server is stopping") -> None:
        """Tell every member, close every connection, stop the threads.  Idempotent."""
        with self._lock:
            if self._stopping:
                already = True
            else:
                already = False
                self._stopping = True
                self._queue(self.room.shutdown(reason))
                connections = list(self._connections)
        if already:
            self._stopped.wait(5)
            return
        self._fanout.deliver(wait=True)
        self._stop_requested.set()
        if self._listener is not None:
            close_listener(self._listener)  # shutdown(), then close(): wakes the thread blocked in accept()
        for conn in connections:
            if conn.end_once("shutdown"):
                try:
                    conn.sock.shutdown(socket.SHUT_RD)  # wakes its reader, which flushes and closes
                except OSError:
                    pass
        self._readers.wait(self.config.shutdown_grace + 0.5)
        if self._accept_thread is not None:
            self._accept_thread.join(1)
        self._writer.stop()
        self._name_deadlines.stop()
        self.log.emit(ev.Stopped(reason=reason))
        self._stopped.set()

    def thread_names(self) -> list[str]:
        """The server's threads running now: accept, backlog-writer, name-deadlines, and client-N per reader.

        The reader threads are bare threads (``ReaderThreads``), which
        ``threading.enumerate()`` does not list, so the server names them.
        """
        fixed = [thread.name for thread in (self._accept_thread, self._writer, self._name_deadlines)
                 if thread is not None and thread.is_alive()]
        return fixed + self._readers.names()

    def connection_count(self) -> int:
        """Connections open now (named or not)."""
        with self._lock:
            return len(self._connections)

    def tcp_info_of(self, name: str):
        """TCP_INFO of the server's socket to the member called NAME now (a TcpInfo), or None.

        None when nobody of that name is connected or the kernel cannot say.
        For experiments that must tell which side of a connection still
        holds unacknowledged data (lab.experiments.compare's TCP half).
        """
        with self._lock:
            sock = next((conn.sock for conn in self._connections if conn.name == name), None)
        return read_tcp_info(sock) if sock is not None else None

    def _listen(self) -> socket.socket:
        host, port = self.config.host, self.config.port
        family = family_for(host)
        try:
            # create_server sets SO_REUSEADDR, so a restarted server can bind
            # the port at once even while old connections sit in TIME_WAIT.
            return socket.create_server((host, port), family=family, backlog=self.config.backlog,
                                        dualstack_ipv6=(host == "::" and socket.has_dualstack_ipv6()))
        except OSError as error:
            raise ServerError(explain_bind_error(error, host, port)) from None

    # -- accepting --------------------------------------------------------------

    def _accept_loop(self) -> None:
        """Accept connections until stop(); no failure of accept() or of admitting one client ends it."""
        assert self._listener is not None
        trouble = _AcceptTrouble()
        while not self._stopping:
            try:
                sock, client = self._listener.accept()
            except Exception as error:  # OSError, or a bug: either way the next client must be served
                if self._stopping:
                    return
                pause, note = trouble.failed(error)
                if note:
                    self.log.emit(ev.Note(text=note))
                if pause:
                    self._stop_requested.wait(pause)
                continue
            trouble.succeeded()
            try:
                self._admit(sock, client)
            except Exception as error:  # e.g. "can't start new thread": costs this client, never the server
                self._admit_failed(sock, client, error)

    def _admit(self, sock: socket.socket, client: tuple) -> None:
        self._configure(sock)
        try:
            server_side = sock.getsockname()
            server_side = self._server_sides.setdefault(server_side, server_side)  # one tuple for all its clients
        except OSError:  # the client is gone already (reset before we got here)
            sock.close()
            return
        with self._lock:
            self._numbers += 1
            conn = Connection(self._numbers, sock, client, server_side)
            full = len(self._connections) >= self.config.max_clients
            if not full:
                self._connections.add(conn)
        if full:
            self._turn_away(conn)
            return
        conn.outbox = Outbox(sock, self._writer, self.config.send_queue, self._fanout, on_overflow=conn.overflowed)
        self.log.emit(ev.Accepted(conn=conn.number, client=client, server=server_side))
        self._readers.start(f"client-{conn.number}", self._serve, conn)

    def _admit_failed(self, sock: socket.socket, client: tuple, error: Exception) -> None:
        """Admitting one client raised: forget it, close its socket, say so; accepting goes on."""
        with self._lock:
            stranded = [conn for conn in self._connections if conn.sock is sock]
            for conn in stranded:
                self._connections.discard(conn)
        with contextlib.suppress(OSError):
            sock.close()
        number = stranded[0].number if stranded else None
        self.log.emit(ev.Note(conn=number, text=f"could not admit {ev.fmt_addr(client)}: {error!r}; its connection "
                                                "was closed, and the server goes on accepting"))

    def _configure(self, sock: socket.socket) -> None:
        """Per-connection socket options, each for a reason."""
        # Chat lines are small and each should leave at once: without
        # TCP_NODELAY, Nagle's algorithm holds small segments back while an
        # ACK is outstanding, adding tens of milliseconds.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Keepalive probes find peers that vanished without FIN or RST
        # (cable pulled, laptop closed): recv() then fails with ETIMEDOUT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", self.config.keepalive_idle),
                              ("TCP_KEEPINTVL", self.config.keepalive_interval),
                              ("TCP_KEEPCNT", self.config.keepalive_count)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            # Keepalive is silent while data is unacknowledged; this bounds
            # how long sent data may stay unacknowledged before giving up.
            total = self.config.keepalive_idle + self.config.keepalive_interval * self.config.keepalive_count
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, total * 1000)
        if self.config.sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.sndbuf)

    def _turn_away(self, conn: Connection) -> None:
        line = p.encode(replies.server_full(time.time(), self.config.max_clients))
        try:
            conn.sock.send(line, SEND_FLAGS)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.sock.close()
        self.log.emit(ev.Refused(conn=conn.number, client=conn.client,
                                 reason=replies.server_full_reason(self.config.max_clients)))

    # -- one thread per client -------------------------------------------------

    def _serve(self, conn: Connection) -> None:
        """The reader thread of one client, from its hello to its close."""
        how, detail = "error", ""
        try:
            self._handshake(conn)
            self._act(conn)
            self._name_deadlines.watch(conn)
            self._read_lines(conn)
        except _Ended as ended:
            how, detail = ended.how, ended.detail
        except ConnectionResetError:
            how = "rst"
        except TimeoutError:
            how, detail = "timeout", "no answer to TCP keepalive probes"
        except OSError as error:
            how, detail = "error", error.strerror or str(error)
        except Exception as error:  # a bug must cost one connection, never the server
            how, detail = "error", f"internal error: {error!r}"
        finally:
            self._finish(conn, how, detail)

    def _handshake(self, conn: Connection) -> None:
        if self.config.tls is None:
            return
        from lab.tls import TlsHandshakeError, TlsTransport

        transport = TlsTransport(conn.sock, self.config.tls, server_side=True)
        try:
            transport.handshake(self.config.tls_handshake_timeout)
        except TlsHandshakeError as error:
            if error.kind == "plaintext":
                # Someone typed at the TLS port with nc or telnet: tell them why, in plain text.
                with contextlib.suppress(OSError):
                    conn.sock.send(p.encode(replies.tls_required(time.time())), SEND_FLAGS)
            raise _Ended("dropped", f"TLS handshake failed: {error.reason}") from None
        conn.transport = transport
        conn.outbox.use_encoding(transport.encode)
        # Records OpenSSL makes by itself (TLS 1.3 tickets, alerts) leave through
        # the outbox too, so every record reaches the wire in order.
        transport.on_wire_pending = lambda: conn.outbox.push(b"")
        self.log.emit(ev.Note(conn=conn.number, text=f"TLS handshake complete: {transport.describe()}"))

    def _read_lines(self, conn: Connection) -> None:
        decoder = p.LineDecoder(self.config.max_line, self.config.max_unterminated)
        bucket = TokenBucket(self.config.rate, self.config.burst, time.monotonic())
        warned_flood = False
        first = True
        verbose = self.log.verbosity >= 2
        while True:
            data = conn.transport.recv(READ_SIZE)
            if not data:
                raise _Ended("fin")
            if first and self.config.tls is None and looks_like_tls_client_hello(data):
                raise _Ended("dropped", "a TLS ClientHello arrived on the plain-text port "
                                        "(the client used --tls; this server runs without it)")
            first = False
            conn.bytes_in += len(data)
            events = decoder.feed(data)
            if verbose:
                self.log.emit(ev.Data(conn=conn.number, direction="in", nbytes=len(data),
                                      lines=sum(isinstance(e, p.Line) for e in events)))
            for event in events:
                if isinstance(event, p.NoLineEnd):
                    conn.outbox.push(p.encode(replies.no_line_end(time.time(), event.limit)))
                    raise _Ended("dropped", f"no line end in {event.limit} bytes")
                if isinstance(event, p.LineTooLong):
                    conn.outbox.push(p.encode(replies.line_too_long(time.time(), event.length, event.limit)))
                    continue
                conn.lines_in += 1
                wait = bucket.take(time.monotonic())
                if wait > 0:
                    if not warned_flood:
                        warned_flood = True
                        conn.outbox.push(p.encode(replies.flood_slowed(time.time(), self.config.rate)))
                    time.sleep(wait)  # not reading: TCP flow control pushes back on the sender
                else:
                    warned_flood = False
                self._on_line(conn, event.text)

    def _on_line(self, conn: Connection, text: str) -> None:
        if conn.name is None:
            # The welcome and history go out under the same lock as the join,
            # before anyone else can see the new member, so they always
            # arrive before the first live message.
            with self._lock:
                result = self.room.join(conn, text)
                if result.accepted:
                    self._fanout.join(conn.outbox)  # broadcasts reach it from now on, like the room's
                self._queue(result.actions)
            self._fanout.deliver()
            if result.accepted:
                conn.name = result.name
                self.log.emit(ev.Named(conn=conn.number, name=conn.name))
            return
        for action in self._act(conn, text):
            if isinstance(action, Close) and action.member is conn:
                raise _Ended("quit", action.reason)

    def _name_deadline_passed(self, conn: Connection) -> None:
        """``conn`` has had ``name_timeout`` seconds to choose a name (the NameDeadlines thread calls this)."""
        with self._lock:
            if conn in self.room or conn not in self._connections:
                return  # named in time, or gone already
        seconds = self.config.name_timeout
        try:
            if conn.end is None:  # said once, before the FIN that abort() sends
                conn.outbox.push(p.encode(replies.name_timeout(time.time(), seconds)))
        except Exception as error:  # a bug must cost this connection, never the watch of the others
            self.log.emit(ev.Note(conn=conn.number, text=f"internal error at the name deadline: {error!r}"))
        conn.abort("timeout", f"no name within {seconds:g} s")  # wakes its reader, which closes

    def _finish(self, conn: Connection, how: str, detail: str) -> None:
        """The one exit path of a connection: leave notice, flush, close, report."""
        if not conn.end_once(how, detail):
            how, detail = conn.end  # another thread ended it first (drop, shutdown)
        with self._lock:
            actions = self.room.leave(conn, replies.leave_reason(how, detail)) if conn.name else []
            if conn.outbox is not None:
                self._fanout.leave(conn.outbox)
            self._connections.discard(conn)
            if not self._stopping:  # during shutdown everyone is leaving: no notices
                self._queue(actions)
        self._fanout.deliver()
        tcp_info = read_tcp_info(conn.sock)
        if conn.outbox is not None:
            flush = 0.0 if how in ("rst", "timeout") or detail == "send queue exceeded" else self.config.shutdown_grace
            closing = conn.transport.close_notify()
            if closing:
                conn.outbox.push(closing, wire=True)
            conn.outbox.close(flush_timeout=flush)
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.sock.close()
        outbox = conn.outbox
        self.log.emit(ev.Closed(
            conn=conn.number, how=how, detail=detail, name=conn.name, peer=conn.client,
            bytes_in=conn.bytes_in, lines_in=conn.lines_in,
            bytes_out=outbox.bytes_out if outbox else 0, lines_out=outbox.lines_out if outbox else 0,
            duration=time.time() - conn.started, tcp_info=tcp_info.to_dict() if tcp_info else None))

    # -- carrying out the room's decisions -------------------------------------

    def _act(self, conn: Connection, text: str | None = None) -> list:
        """Ask the room what ``conn``'s new connection (no text) or line means; queue and send what it decides."""
        with self._lock:
            actions = self.room.hello(conn) if text is None else self.room.receive(conn, text)
            self._queue(actions)
        self._fanout.deliver()
        return actions

    def _queue(self, actions: list) -> None:
        """Queue the room's Deliver actions (``_lock`` held), each as one decision of the fanout.

        Each action's lines are encoded once, whatever the number of
        recipients, and queued under the same lock as the decisions, in
        their order: every member receives the lines in the same order.
        A line whose audience is the room's members (everyone, or everyone
        but the member whose line or arrival it announces) is a broadcast:
        the fanout's members are the room's, so it needs no list of
        recipients and counts nothing per member.  (Close actions are
        carried out by the member's own reader thread, see ``_on_line``.)
        """
        members = self.room.members
        for action in actions:
            if not isinstance(action, Deliver):
                continue
            data = p.encode_lines(action.lines)
            if action.audience is members:
                excluded = action.excluded
                self._fanout.broadcast(data, skip=excluded.outbox if excluded is not None else None)
            else:
                self._fanout.queue(map(_OUTBOX, action.recipients), data)


_OUTBOX = operator.attrgetter("outbox")


# --- one thread per client ---------------------------------------------------------

class ReaderThreads:
    """Starts the one reader thread per client, and lets ``stop()`` wait for the last one.

    The threads are the seed's "one thread per client", started with the
    interpreter's own ``_thread.start_new_thread`` rather than as
    ``threading.Thread`` objects.  Measured here with 1,000 idle threads
    blocked in ``recv(256)``: 16.3 KiB resident per ``threading.Thread``
    against 9.7 KiB per bare thread.  The difference is its bookkeeping (an
    Event, a Condition, locks, the object itself) and its start-up in
    Python, which runs two frames deeper and touches one more page of the
    thread's stack, a page that then stays resident for the thread's life.
    At 1,000 clients that is 6.5 MiB, about a sixth of the server.  What a
    ``threading.Thread`` gave the server was ``join()``; a count of running
    readers does that job.
    """

    def __init__(self) -> None:
        self._running = 0
        self._changed = threading.Condition()
        self._names: dict[object, str] = {}  # one key per started thread -> its name, in start order

    def start(self, name: str, target: Callable[..., None], *args: Any) -> None:
        """Run ``target(*args)`` in a new thread called ``name``; raises (RuntimeError) if it cannot start."""
        key = object()
        with self._changed:
            self._running += 1
            self._names[key] = name
        try:
            _thread.start_new_thread(self._run, (key, target, args))
        except BaseException:
            self._finished(key)
            raise

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every reader to return; True if they all did."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running == 0, timeout)

    def running(self) -> int:
        """Reader threads running now."""
        return self._running

    def names(self) -> list[str]:
        """The names of the reader threads started and not yet returned, in the order they started."""
        with self._changed:
            return list(self._names.values())

    def _run(self, key: object, target: Callable[..., None], args: tuple) -> None:
        try:
            target(*args)
        finally:
            self._finished(key)

    def _finished(self, key: object) -> None:
        with self._changed:
            del self._names[key]
            self._running -= 1
            if self._running == 0:
                self._changed.notify_all()


# --- the time to choose a name -----------------------------------------------------

class NameDeadlines(threading.Thread):
    """One thread that ends the connections which did not choose a name in time.

    Every connection gets the same time, so the deadlines fall in the order
    the connections were watched, and a queue in that order is all the
    bookkeeping needed: the thread sleeps until the oldest deadline, calls
    ``expire(conn)`` (which decides whether the connection has a name by
    now), and moves on.

    Why not bound each reader's ``recv()`` instead (SO_RCVTIMEO, as the
    server did): that bounds each *wait*, not the time to choose a name (a
    client that sends one byte every few seconds never times out), and it
    cost every reader thread one more page of resident stack for as long as
    it lives: 4 KiB per client, a tenth of the server's memory at 1,000
    idle clients (docs/PERFORMANCE.md).
    """

    def __init__(self, seconds: float, expire: Callable[[Connection], None]):
        super().__init__(name="name-deadlines", daemon=True)
        self.seconds = seconds
        self._expire = expire
        self._waiting: deque[tuple[float, Connection]] = deque()  # (deadline, connection), oldest first
        self._changed = threading.Condition()
        self._stopping = False

    def watch(self, conn: Connection) -> None:
        """``conn`` has ``seconds`` from now to choose a name."""
        with self._changed:
            self._waiting.append((time.monotonic() + self.seconds, conn))
            if len(self._waiting) == 1:
                self._changed.notify()

    def stop(self) -> None:
        """Stop the thread and wait for it (up to 2 s)."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self.is_alive():
            self.join(timeout=2)

    def run(self) -> None:
        """The thread: sleep until the oldest deadline, expire that connection, repeat."""
        while True:
            with self._changed:
                while not self._stopping:
                    if self._waiting:
                        wait = self._waiting[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._changed.wait(wait)
                    else:
                        self._changed.wait()
                if self._stopping:
                    return
                _, conn = self._waiting.popleft()
            self._expire(conn)


# --- what to do when accept() fails ----------------------------------------------

def _errnos(*names: str) -> frozenset[int]:
    return frozenset(getattr(errno, name) for name in names if hasattr(errno, name))


ACCEPT_PEER_GONE = _errnos("ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
                           "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "EPERM")
"""accept() errors that concern one connection only: it failed between the
handshake and accept() (reset by the client, a network error Linux passes
on, EPERM from a firewall rule).  accept(2) says to treat them like EAGAIN:
accept again at once."""

ACCEPT_OUT_OF_RESOURCES = _errnos("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
"""accept() errors that mean the process or the system is out of file
descriptors or memory: accept again after a short pause, rather than spin
(the waiting handshakes stay in the listen backlog meanwhile)."""

RESOURCE_PAUSE_S = 0.1
UNEXPECTED_PAUSE_S = (0.05, 1.0)  # the first pause after an unexpected error, and the longest
NOTE_EVERY_S = 1.0  # a failure that repeats is logged at most this often, with a count


class _AcceptTrouble:
    """What the accept loop does after a failure: how long to pause, and what to log.

    Every failure is logged, repeats of the same one at most every
    ``NOTE_EVERY_S`` with how many there were; none ends the loop.
    Errors outside the two lists above (and exceptions that are not
    OSError at all) are unexpected: they are logged with their name and
    retried after a pause that doubles up to one second, so a persistent
    fault costs a log line a second, not a spinning CPU.
    """

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.pause = 0.0
        self._last: tuple[str, float] | None = None  # (what, when) of the last note
        self._repeats = 0

    def succeeded(self) -> None:
        self.pause = 0.0

    def failed(self, error: BaseException) -> tuple[float, str | None]:
        """The pause before the next accept(), and the note to log (None: a repeat, counted)."""
        code = getattr(error, "errno", None)
        name = errno.errorcode.get(code, type(error).__name__) if code is not None else type(error).__name__
        if code in ACCEPT_PEER_GONE:
            self.pause = 0.0
            what = (f"accept() failed with {name} ({_strerror(error)}): that client's connection failed before "
                    "we accepted it; accepting the next one")
        elif code in ACCEPT_OUT_OF_RESOURCES:
            self.pause = RESOURCE_PAUSE_S
            what = (f"accept() failed with {name} ({_strerror(error)}): out of file descriptors or memory; "
                    f"retrying every {RESOURCE_PAUSE_S:g} s (waiting clients stay in the listen backlog)")
        else:
            first, longest = UNEXPECTED_PAUSE_S
            self.pause = min(longest, max(first, self.pause * 2))
            what = (f"accept() failed with an unexpected {name} ({_strerror(error)}); "
                    f"retrying in {self.pause:g} s")
        now = self.clock()
        if self._last is not None and self._last[0] == name and now - self._last[1] < NOTE_EVERY_S:
            self._repeats += 1
            return self.pause, None
        if self._repeats:
            what += f" ({self._repeats} more since the last note)"
        self._last, self._repeats = (name, now), 0
        return self.pause, what


def _strerror(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__

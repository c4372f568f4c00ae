"""One worker process of `chatlab load`: an epoll loop over its share of the clients.

A thread per simulated client would spend the machine on thread switches
(and would be the bottleneck long before the server is); instead each
worker owns a few hundred non-blocking sockets and one epoll loop that
connects them, registers their names, paces the senders and reads
everything, feeding the bytes to the sans-I/O accounting in
:mod:`lab.experiments.load.accounting`.

Two kinds of receiving clients keep the load generator cheap, so that it
does not take the CPU the server needs (on loopback they share the cores):

* *timed* clients (the senders, and every ``timed_every``-th client, spread
  over the join order and so over the server's fan-out order) are read as
  soon as epoll says so, with the kernel's receive timestamp: they give
  the latency;
* *bulk* clients are not in the epoll set at all (so the server's send
  never has to wake us up for them) and are swept every ``sweep_ns``
  (20 ms: before Linux's 40 ms delayed-ACK timer, so their ACKs still
  leave from our reads and not from a timer on the server's core).  Their
  bytes are kept and parsed after the sending window (or whenever a worker
  holds ``BULK_PARSE_BYTES``): they count reach, duplicates and order
  exactly like the timed ones, without competing with the server for CPU
  while it is being measured.

The parent talks to the worker over a ``multiprocessing`` pipe::

    worker -> parent   ("alive",)
    parent -> worker   ("start", T0_ns)                 connect on the ramp from T0
    worker -> parent   ("ready", {...})                 every client registered or failed
    parent -> worker   ("go", start_ns, end_ns, drain_ns)
    worker -> parent   ("done", {...})                  the numbers, then the worker exits
    parent -> worker   ("stop",)                        at any time: give up, report, exit
"""

from __future__ import annotations

import errno
import resource
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field

from lab.chat import wire
from lab.experiments.load.accounting import Histogram, Receiver, make_message
from lab.net.sockopts import family_for, raise_fd_limit, unread_bytes

CONNECTING, HELLO, WELCOME, BOT, READY, CLOSED, FAILED = range(7)
JOINING = (CONNECTING, HELLO, WELCOME, BOT)  # on the way to READY

# Linux kernel receive timestamps: with SO_TIMESTAMPNS on, recvmsg() also returns
# when the data reached the socket (CLOCK_REALTIME, struct timespec), so the
# latency does not include the time this process took to get round to reading
# (with 500 sockets readable at once, the last one waits a few milliseconds).
# The `socket` module has no name for it; 35 is SO_TIMESTAMPNS = SCM_TIMESTAMPNS on Linux.
SO_TIMESTAMPNS = 35 if sys.platform.startswith("linux") else None
_TIMESPEC = struct.Struct("@ll")

POLL_GAP_NS = 1_000_000  # at most one epoll_wait per millisecond while sending (see run())
SWEEP_NS = 20_000_000  # how often bulk clients are read (below the 40 ms delayed-ACK minimum)
BULK_PARSE_BYTES = 128 * 1024 * 1024  # parse bulk bytes during the run only past this much


def _cpu() -> tuple[float, float]:
    """(user, system) CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


@dataclass
class Client:
    """One connection of the load generator and where it is: joining, registered, sending or stalled, ended.

    ``role`` is "recv", "send" or "stalled"; the ``*_ns`` times are
    ``time.time_ns()``; ``rx`` counts what it received; a ``bulk`` client is
    read in sweeps and only counted (no latency).
    """

    index: int
    name: str
    role: str  # "recv", "send" or "stalled"
    connect_at_ns: int
    sender: int | None = None
    sock: socket.socket | None = None
    state: int = CONNECTING
    attempt: int = 0
    handshake: bytes = b""
    started_ns: int = 0
    connect_ns: int = 0  # time from connect() to --- welcome
    bot: bool | None = None  # True: the server took /bot (lines kept out of history); False: it has no /bot
    error: str = ""
    rx: Receiver | None = None
    seq: int = 0
    next_send_ns: int = 0
    out: bytes = b""
    closed_during_run: bool = False
    kernel_ts: bool = False
    bulk: bool = False  # read in sweeps, parsed later, no latency (see the module docstring)
    chunks: list = field(default_factory=list)  # bulk: (sweep time ns, bytes) not parsed yet


class Worker:
    """The event loop of one worker process (see the module docstring)."""

    def __init__(self, conn, cfg: dict) -> None:
        self.conn = conn
        self.cfg = cfg
        # epoll used directly (not `selectors`): at 100,000 deliveries/s the
        # per-event overhead of the wrapper shows in the load generator's CPU
        self.ep = select.epoll()
        self.byfd: dict[int, Client] = {}
        self.clients = [Client(index=c["index"], name=c["name"], role=c["role"], connect_at_ns=0, sender=c.get("sender"))
                        for c in cfg["clients"]]
        self.senders = [c for c in self.clients if c.role == "send"]
        self.pending = sorted(self.clients, key=lambda c: c.index)  # not yet connect()ed, in ramp order
        self.phase = "idle"
        self.go = None  # (start_ns, end_ns, drain_ns)
        self.last_token_ns = 0
        self.cpu_at_go = (0.0, 0.0)
        self.cpu_at_end = None
        self.stop_requested = False
        self.read_lag = Histogram()
        self.timeline: dict[int, list[int]] = {}
        self.bulk: list[Client] = []
        self.next_due_ns = 0  # when _send_due next has something to send
        self.next_sweep_ns = 0
        self.unparsed = 0  # bytes in the bulk clients' chunks
        self.stalled_unread: dict[str, int] = {}  # at the end of sending: what each stalled client left unread

    # -- pipe to the parent ------------------------------------------------

    def _on_parent(self) -> None:
        while self.conn.poll():
            try:
                message = self.conn.recv()
            except EOFError:
                self.stop_requested = True
                return
            kind = message[0]
            if kind == "start":
                t0 = message[1]
                ramp_ns = int(self.cfg["ramp"] * 1e9)
                total = self.cfg["total_clients"]
                for c in self.clients:
                    c.connect_at_ns = t0 + ramp_ns * c.index // max(1, total)
                self.phase = "connecting"
            elif kind == "go":
                self.go = message[1:]
                start_ns, _, _ = self.go
                senders = [c for c in self.clients if c.role == "send"]
                period = int(1e9 / self.cfg["rate"])
                for c in senders:
                    # spread the senders over one period so they do not all send at once
                    c.next_send_ns = start_ns + period * c.sender // max(1, self.cfg["senders"])
                self.phase = "running"
                self.cpu_at_go = _cpu()
            elif kind == "stop":
                self.stop_requested = True

    # -- connecting and registering -----------------------------------------

    def _connect(self, c: Client) -> None:
        try:
            sock = socket.socket(family_for(self.cfg["addr"][0]), socket.SOCK_STREAM)
        except OSError as exc:
            self._fail(c, f"socket(): {exc.strerror or exc}")
            return
        sock.setblocking(False)
        if c.role == "stalled":
            # A small receive buffer: the stalled client's TCP window closes after a
            # few KiB, so what it does not read piles up in the *server*.  And the
            # MSS of an Ethernet LAN in its SYN: the server's kernel sizes its send
            # buffer for this connection from the MSS (about 20 segments' worth),
            # so on loopback (MSS 65,483) it would grow to ~4 MiB and absorb
            # minutes of chat; with 1,460 it holds ~100-300 KiB, as on a classroom
            # network, and a blocking sendall() to this client blocks within seconds.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.cfg["stalled_rcvbuf"])
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, self.cfg.get("stalled_mss", 1460))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sock = sock
        c.started_ns = time.time_ns()
        err = sock.connect_ex(self.cfg["addr"])
        if err not in (0, errno.EINPROGRESS):
            self._fail(c, errno.errorcode.get(err, str(err)))
            return
        self.byfd[sock.fileno()] = c
        self.ep.register(sock.fileno(), select.EPOLLOUT)

    def _fail(self, c: Client, error: str) -> None:
        c.state, c.error = FAILED, error
        self._close(c)

    def _close(self, c: Client) -> None:
        if c.sock is not None:
            fd = c.sock.fileno()
            if self.byfd.pop(fd, None) is not None:
                try:
                    self.ep.unregister(fd)
                except OSError:
                    pass
            c.sock.close()
            c.sock = None

    def _on_connected(self, c: Client) -> None:
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(c, errno.errorcode.get(err, str(err)))
            return
        c.state = HELLO
        self.ep.modify(c.sock.fileno(), select.EPOLLIN)

    def _handshake(self, c: Client, data: bytes) -> None:
        """Join: the hello, our name (another if it is taken), the welcome, then ``/bot``.

        ``/bot`` (docs/PROTOCOL.md) marks a member as a program: the server
        keeps its messages out of the history, so a classroom server under
        load does not hand newcomers 20 lines of tokens.  A server without
        it (the naive one, a student's) answers ``unknown-command``, and the
        load goes on without the mark.  Lines are read by lab.chat.wire.
        """
        c.handshake += data
        while b"\n" in c.handshake:
            raw, c.handshake = c.handshake.split(b"\n", 1)
            line = wire.parse_server_line(raw.decode("utf-8", "replace"))
            if line is None:
                continue  # not a server line (a server that says more than the protocol): skip it
            if c.state == HELLO and line.kind == "info" and line.code == "hello":
                c.sock.send(f"{c.name}\n".encode())
                c.state = WELCOME
            elif c.state == WELCOME and line.kind == "info" and line.code == "welcome":
                c.connect_ns = time.time_ns() - c.started_ns
                c.sock.send(b"/bot\n")
                c.state = BOT
            elif c.state == BOT and line.kind == "info" and line.code == "bot":
                c.bot = True
                self._ready(c)
                return
            elif c.state == BOT and line.kind == "error" and line.code == "unknown-command":
                c.bot = False
                self._ready(c)
                return
            elif c.state == WELCOME and line.kind == "error" and line.code == "name-taken" and c.attempt < 5:
                c.attempt += 1
                c.name = f"{c.name[:13]}x{c.attempt}"
                c.sock.send(f"{c.name}\n".encode())
            elif line.kind == "error":
                self._fail(c, f"{line.code}: {line.text}"[:80])
                return
        if len(c.handshake) > 65536:
            self._fail(c, "no welcome from the server")

    def _ready(self, c: Client) -> None:
        c.state = READY
        rest, c.handshake = c.handshake, b""
        if c.role == "stalled":
            # never read again: stop watching the socket, keep it open
            self.ep.unregister(c.sock.fileno())
            del self.byfd[c.sock.fileno()]
            return
        every = self.cfg.get("timed_every", 1)
        if c.role == "recv" and every > 1 and c.index % every:
            c.bulk = True
            c.rx = Receiver(run=self.cfg["run"], counting=True, timeline=self.timeline, timed=False)
            self.ep.unregister(c.sock.fileno())
            del self.byfd[c.sock.fileno()]
            self.bulk.append(c)
            if rest:
                c.chunks.append((time.time_ns(), rest))
            return
        c.rx = Receiver(run=self.cfg["run"], counting=True, timeline=self.timeline)
        if self.cfg.get("kernel_timestamps") and SO_TIMESTAMPNS is not None:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                c.kernel_ts = True
            except OSError:
                pass
        if rest:
            c.rx.feed(rest, time.time_ns())

    # -- running ----------------------------------------------------------

    def _send_due(self, now: int) -> int:
        """Send every message that is due; return the ns until the next one (or a default)."""
        start_ns, end_ns, _ = self.go
        period = int(1e9 / self.cfg["rate"])
        wait = 50_000_000
        for c in self.senders:  # only the senders: this runs on every turn of the loop
            if c.state != READY:
                continue
            while c.next_send_ns <= now and c.next_send_ns < end_ns:
                sent_ns = time.time_ns()
                message = make_message(self.cfg["run"], c.sender, c.seq, sent_ns, self.cfg["size"])
                c.seq += 1
                c.next_send_ns += period
                if c.out:
                    c.out += message
                    continue
                try:
                    n = c.sock.send(message)
                except BlockingIOError:
                    n = 0
                except OSError:
                    break
                if n < len(message):
                    c.out = message[n:]
                    self.ep.modify(c.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)
            if c.next_send_ns < end_ns:
                wait = min(wait, c.next_send_ns - now)
        return max(0, wait)

    def _flush(self, c: Client) -> None:
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            return
        except OSError:
            c.out = b""
            return
        c.out = c.out[n:]
        if not c.out:
            self.ep.modify(c.sock.fileno(), select.EPOLLIN)

    def _read(self, c: Client) -> bytes | None:
        """recv() what waits on ``c``'s socket: the bytes, b"" if nothing waits, None once it ended."""
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self._ended(c, exc.strerror or str(exc))
            return None
        if not data:
            self._ended(c, "the server closed the connection")
            return None
        return data

    def _on_readable(self, c: Client) -> None:
        """Read during the handshake (the hot path for registered clients is in run())."""
        data = self._read(c)
        if not data:
            return
        if c.state != READY:
            self._handshake(c, data)
        elif c.rx.feed(data, time.time_ns()):
            self.last_token_ns = time.time_ns()

    def _sweep(self, now: int) -> int:
        """Read whatever waits on the bulk clients' sockets; return the bytes read."""
        total = 0
        for c in self.bulk:
            while c.sock is not None:
                data = self._read(c)
                if not data:
                    break
                c.chunks.append((now, data))
                total += len(data)
                if len(data) < 65536:
                    break
        self.unparsed += total
        return total

    def _parse_bulk(self) -> None:
        """Feed the bulk clients' kept bytes to their accounting, in the order they arrived."""
        for c in self.bulk:
            chunks, c.chunks = c.chunks, []
            for when, data in chunks:
                c.rx.feed(data, when)
        self.unparsed = 0

    def _ended(self, c: Client, error: str) -> None:
        """The server closed (FIN) or reset (RST) this client's connection."""
        if c.state in JOINING:
            self._fail(c, error)
            return
        c.state = CLOSED
        c.closed_during_run = self.phase == "running"
        c.error = error
        self._close(c)

    # -- the loop -----------------------------------------------------------

    def run(self) -> None:
        """The event loop, until the runner says stop or the hard deadline passes.

        One epoll over every client and the pipe to the runner: connect the
        clients on their schedule, send the paced messages, read what arrives (bulk
        clients in sweeps every 20 ms), and answer the runner's phases.
        """
        raise_fd_limit(len(self.clients) + 64)
        parent_fd = self.conn.fileno()
        self.ep.register(parent_fd, select.EPOLLIN)
        byfd = self.byfd
        time_ns, EPOLLIN, timespec = time.time_ns, select.EPOLLIN, _TIMESPEC.unpack_from
        self.conn.send(("alive",))
        hard = self.cfg["hard_deadline_ns"]
        ready_sent = False
        polled_ns = 0
        while not self.stop_requested:
            now = time.time_ns()
            if now > hard:
                break
            timeout_ns = 50_000_000
            if self.phase == "connecting" or (self.phase == "running" and self.pending):
                while self.pending and self.pending[0].connect_at_ns <= now:
                    self._connect(self.pending.pop(0))
                if self.pending:
                    timeout_ns = min(timeout_ns, self.pending[0].connect_at_ns - now)
                deadline = self.cfg["connect_timeout"] * 1e9
                for c in self.clients:
                    if c.state in JOINING and c.sock is not None and now - c.started_ns > deadline:
                        self._fail(c, "no welcome within the connect timeout")
                if not ready_sent and not self.pending and all(c.state not in JOINING for c in self.clients):
                    self.conn.send(("ready", self._connect_summary()))
                    ready_sent = True
            if self.phase == "running":
                start_ns, end_ns, drain_ns = self.go
                if now >= end_ns:
                    if self.cpu_at_end is None:
                        self.cpu_at_end = _cpu()
                        self.stalled_unread = self._unread_of_stalled()
                    idle = now - max(self.last_token_ns, end_ns)
                    if now >= drain_ns or idle > self.cfg["idle_ns"]:
                        break
                    timeout_ns = min(timeout_ns, 20_000_000)
                elif now >= start_ns:
                    if now >= self.next_due_ns:  # not on every turn: 25 senders x 10,000 turns/s adds up
                        self.next_due_ns = now + self._send_due(now)
                    timeout_ns = min(timeout_ns, self.next_due_ns - now)
                else:
                    timeout_ns = min(timeout_ns, start_ns - now)
            tokens = 0
            if self.bulk and self.phase == "running":
                if now >= self.next_sweep_ns:
                    self.next_sweep_ns = now + self.cfg.get("sweep_ns", SWEEP_NS)
                    if self._sweep(now):
                        self.last_token_ns = now
                        if self.unparsed > BULK_PARSE_BYTES:
                            self._parse_bulk()
                timeout_ns = min(timeout_ns, self.next_sweep_ns - now)
            if self.phase == "running" and now - polled_ns < POLL_GAP_NS:
                # Coalesce wake-ups: waiting here (not in epoll_wait) means the
                # server's send() finds nobody to wake, and the lines that arrive
                # meanwhile are read in one turn.  Their latency is unaffected: it
                # is taken from the kernel's receive timestamp, not from our read.
                time.sleep((POLL_GAP_NS - (now - polled_ns)) / 1e9)
            ready = self.ep.poll(max(0, timeout_ns) / 1e9, 1024)
            polled_ns = time_ns()
            for fd, events in ready:
                c = byfd.get(fd)
                if c is None:
                    if fd == parent_fd:
                        self._on_parent()
                    continue
                rx = c.rx
                if rx is not None and events == EPOLLIN:
                    # the hot path: ~100,000 times a second at the goal load. 64 KiB per
                    # recv(): from 128 KiB up, the allocation is an mmap and costs 5x more
                    try:
                        if c.kernel_ts:
                            data, anc, _, _ = c.sock.recvmsg(65536, 64)
                            if anc:
                                sec, nsec = timespec(anc[0][2])
                                when = sec * 1_000_000_000 + nsec
                            else:
                                when = time_ns()
                        else:
                            data = c.sock.recv(65536)
                            when = time_ns()
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        self._ended(c, exc.strerror or str(exc))
                        continue
                    if data:
                        tokens += rx.feed(data, when)
                    else:
                        self._ended(c, "the server closed the connection")
                    continue
                if c.sock is None:
                    continue
                if c.state == CONNECTING:
                    self._on_connected(c)
                    continue
                if events & select.EPOLLOUT and c.out:
                    self._flush(c)
                if events & (EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self._on_readable(c)
            if tokens:
                self.last_token_ns = now = time_ns()
                # How long this turn of the loop took to read everything that was
                # ready: the last socket read in it waited that long in *our*
                # queue, which inflates the latency we measure by up to as much.
                self.read_lag.add((now - polled_ns) // 1000)
        if not ready_sent:
            self.conn.send(("ready", self._connect_summary()))
        self._parse_bulk()
        self.conn.send(("done", self._result()))
        for c in self.clients:
            self._close(c)

    def _unread_of_stalled(self) -> dict[str, int]:
        """Bytes waiting unread in each stalled client's socket (FIONREAD: counted, not read)."""
        unread = {}
        for c in self.clients:
            if c.role == "stalled" and c.state == READY and c.sock is not None:
                try:
                    unread[c.name] = unread_bytes(c.sock)
                except OSError:
                    pass
        return unread

    def _connect_summary(self) -> dict:
        registered = [c for c in self.clients if c.state in (READY, CLOSED)]
        return {
            "registered": len(registered),
            "failed": [(c.name, c.error) for c in self.clients if c.state == FAILED],
            "bots": sum(1 for c in registered if c.bot),
        }

    def _result(self) -> dict:
        latency = Histogram()
        receivers, left = [], set()
        for c in self.clients:
            if c.rx is None:
                continue
            latency.merge(c.rx.latency)
            left.update(c.rx.left)
            receivers.append({
                "index": c.index, "unique": c.rx.unique, "duplicates": c.rx.duplicates,
                "out_of_order": c.rx.out_of_order, "connected_throughout": not c.closed_during_run,
                "foreign": c.rx.foreign,
            })
        end_cpu = self.cpu_at_end if self.cpu_at_end is not None else _cpu()
        return {
            "receivers": receivers,
            "sent": {c.sender: c.seq for c in self.clients if c.role == "send"},
            "latency": latency.to_dict(),
            "read_lag": self.read_lag.to_dict(),
            "timeline": self.timeline,
            "kernel_timestamps": sum(1 for c in self.clients if c.kernel_ts),
            "timed_receivers": sum(1 for c in self.clients if c.rx is not None and not c.bulk),
            "left": sorted(left),
            "stalled": [c.name for c in self.clients if c.role == "stalled" and c.state == READY],
            "stalled_unread": self.stalled_unread,
            "closed_during_run": [(c.name, c.error) for c in self.clients if c.closed_during_run],
            "failed": [(c.name, c.error) for c in self.clients if c.state == FAILED],
            "connect_ms": sorted(c.connect_ns / 1e6 for c in self.clients if c.connect_ns and c.state in (READY, CLOSED)),
            "bots": sum(1 for c in self.clients if c.bot and c.state in (READY, CLOSED)),
            # user and system (kernel) CPU over the sending window: on loopback most of
            # it is the kernel's TCP work for ~100,000 segments/s, not Python
            "cpu_window_user_s": end_cpu[0] - self.cpu_at_go[0] if self.go else 0.0,
            "cpu_window_sys_s": end_cpu[1] - self.cpu_at_go[1] if self.go else 0.0,
            "cpu_window_s": sum(end_cpu) - sum(self.cpu_at_go) if self.go else 0.0,
        }


def worker_main(conn, cfg: dict) -> None:
    """Entry point of a worker process (a ``multiprocessing`` target)."""
    try:
        Worker(conn, cfg).run()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        pass
    finally:
        conn.close()

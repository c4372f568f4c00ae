"""Helpers for the instructor notebooks (notebooks/*.ipynb).

A notebook starts with ``lesson = Lesson("01 ...")`` and ends with
``lesson.cleanup()``.  Everything the lesson starts -- chat servers, client
sockets, client processes, packet captures -- is started through the
lesson, which keeps a list and stops all of it:

* in ``cleanup()`` (the last cell of every notebook);
* when the kernel's Python exits normally (``atexit``);
* inside each helper, with ``try/finally``, when the helper itself fails
  half way (a server that started but whose client could not connect...).

When a cell fails and the kernel is then shut down or restarted, Jupyter
usually *kills* the kernel (atexit does not run).  Nothing is left behind
anyway: servers, clients and captures are threads and sockets of the kernel
itself, which the OS closes; client processes die with the kernel
(``PR_SET_PDEATHSIG``, and Jupyter kills the kernel's process group).
Emulated networks (namespaces) only ever live inside one call
(``compare()``), where ``lab.netlab.Netlab`` removes them in ``finally``;
should a kernel be killed in the middle of one, the next ``Lesson`` removes
namespaces whose kernel no longer exists (``nblabPID-...``).

Packet capture needs root or CAP_NET_RAW.  Without it ``Lesson.capture``
does not fail: it shows a visible note and replays a capture RECORDED with
the same notebook (``lab/data/lessons/NAME.pcap``), step by step, so the
rest of the lesson reads the same.  ``tools/record_lessons.py`` re-records
them by running the notebooks as root.

Nothing here defines what a chat line or a TCP segment means: that is
``lab.protocol`` and ``lab.capture``.  These are the glue a lesson needs.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

LESSON_DATA = Path(__file__).resolve().parent / "data" / "lessons"
RECORD_ENV = "CHATLAB_RECORD_LESSONS"  # set to a directory: live captures are saved there
FORCE_RECORDED_ENV = "CHATLAB_RECORDED"  # set to 1: recorded captures and the loopback experiment, even as root
NETLAB_PREFIX = "nblab"  # namespaces made by notebooks: nblabPID-router, ...
SETTLE = 0.15  # a capture is "settled" when no packet arrived for this long
HOST = "127.0.0.1"


# --- display --------------------------------------------------------------------------

def console():
    """A rich Console that renders well in a notebook and on a projector."""
    from rich.console import Console

    return Console(width=120, highlight=False, emoji=False)


def show(renderable) -> None:
    """Print a rich renderable (table, text) or a string."""
    console().print(renderable)


def note(text: str, kind: str = "warning") -> None:
    """A visible box in the notebook (a markdown quote), also readable as plain text."""
    mark = {"warning": "⚠️ **Note:**", "info": "ℹ️", "ok": "✅"}.get(kind, "")
    plain = f"[{kind.upper()}] " + text.replace("**", "")
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - outside Jupyter
        print(plain)
        return
    display({"text/markdown": f"> {mark} {text}", "text/plain": plain}, raw=True)


def table(rows: list[dict], title: str | None = None, columns: list[str] | None = None):
    """A rich Table from a list of dicts (one row each); returns it (display with show)."""
    from rich.table import Table

    columns = columns or (list(rows[0]) if rows else [])
    out = Table(title=title, title_style="bold")
    for col in columns:
        out.add_column(col)
    for row in rows:
        out.add_row(*[str(row.get(col, "")) for col in columns])
    return out


# --- the kernel's socket table (/proc/net/tcp) ----------------------------------------------

TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}


def _hex_ipv4(text: str) -> str:
    # /proc/net/tcp prints the address as the 32-bit number in host byte order (little endian).
    raw = bytes.fromhex(text)
    return socket.inet_ntop(socket.AF_INET, raw[::-1])


def parse_proc_net_tcp(text: str) -> list[dict]:
    """The IPv4 sockets in the text of /proc/net/tcp: local, remote, state (pure)."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4:
            continue
        (lip, lport), (rip, rport) = (p.split(":") for p in parts[1:3])
        rows.append({"local": f"{_hex_ipv4(lip)}:{int(lport, 16)}",
                     "remote": f"{_hex_ipv4(rip)}:{int(rport, 16)}",
                     "state": TCP_STATES.get(parts[3].upper(), parts[3])})
    return rows


def sockets(port: int) -> list[dict]:
    """This machine's TCP sockets (IPv4) whose local or remote port is ``port``, like `ss -tan`."""
    try:
        text = Path("/proc/net/tcp").read_text()
    except OSError:
        return []
    mine = [r for r in parse_proc_net_tcp(text)
            if r["local"].endswith(f":{port}") or r["remote"].endswith(f":{port}")]
    order = {"LISTEN": 0}
    return sorted(mine, key=lambda r: (order.get(r["state"], 1), r["local"], r["remote"]))


def show_sockets(port: int, title: str | None = None) -> list[dict]:
    """Show the kernel's sockets on ``port`` (what `ss -tan sport = :PORT or dport = :PORT` shows)."""
    rows = sockets(port)
    show(table(rows, title or f"the kernel's TCP sockets with port {port}", ["local", "remote", "state"]))
    return rows


# --- a scripted chat member --------------------------------------------------------------

class ChatPeer:
    """One chat member over a real TCP socket (optionally TLS), driven by the notebook.

    ``local`` is the client's own (ip, ephemeral port), ``connect_ms`` how
    long connect() took: the three-way handshake.  ``read()`` returns the
    server lines that arrived; ``expect(text)`` waits for one.
    """

    def __init__(self, address: tuple[str, int], name: str | None = None, *, rcvbuf: int | None = None,
                 tls=None, server_hostname: str | None = None, timeout: float = 5.0):
        from lab.protocol import LineDecoder

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
        from lab.protocol import Line

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
        from lab.protocol import Line

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


# --- a client in its own process (for Ctrl-C) ---------------------------------------------

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


# --- packet capture, live or recorded ----------------------------------------------------

class Capture:
    """Packets on one TCP/UDP port, live when permitted, else RECORDED (with a visible note).

    Every read (``packets``, ``new()``, ``show_new()``, ``ladder()``...) is a
    *step*.  Live, a step waits until the capture is quiet and remembers how
    many packets it had; recorded, step k shows what step k of the
    recording showed.  So a notebook reads the same either way.
    """

    def __init__(self, port: int, name: str, iface: str = "lo", live: bool = True):
        from lab.capture import Annotator

        self.port, self.name, self.iface = port, name, iface
        self.sniffer = None
        self.recorded: list = []
        self.steps: list[int] = []
        self._step = 0
        self._shown = 0
        self.annotated: list = []
        self.problem: str | None = None
        if live and os.environ.get(FORCE_RECORDED_ENV):
            live, self.problem = False, f"{FORCE_RECORDED_ENV}=1 asks for the recorded captures"
        if live:
            from lab.capture.sniffer import CaptureError, Sniffer, capture_problem

            self.problem = capture_problem(iface)
            if self.problem is None:
                try:
                    self.sniffer = Sniffer(iface=iface, port=port).start()
                except CaptureError as exc:
                    self.problem = str(exc)
        elif self.problem is None:
            self.problem = "a recorded capture was asked for"
        server_ports = {port}
        if self.sniffer is None:
            self._load_recording()
            server_ports = set(self._meta.get("server_ports", []))
            note(f"**RECORDED capture.** Live capture is not possible here ({self.problem}). The packets below "
                 f"were recorded by the same notebook on another machine ({self.source}); their port "
                 "numbers and times differ from the ones this run printed, the story is the same.")
        self._annotator = Annotator(server_ports)

    @property
    def live(self) -> bool:
        """True when the packets are this run's own (not a recording)."""
        return self.sniffer is not None

    @property
    def source(self) -> str:
        if self.sniffer is not None:
            return f"LIVE, port {self.port} on {self.iface}"
        return f"lab/data/lessons/{self.name}.pcap"

    def _load_recording(self) -> None:
        from lab.capture import read_pcap

        path = LESSON_DATA / f"{self.name}.pcap"
        meta = LESSON_DATA / f"{self.name}.json"
        if not path.exists():  # should not happen in the kit: fall back on the demo's capture
            path, meta = path.parent.parent / "demo.pcap", None
        self.recorded = read_pcap(path)
        self._meta = json.loads(meta.read_text()) if meta and meta.exists() else {}
        self.steps = list(self._meta.get("steps", []))

    def _settle(self, limit: float = 3.0) -> None:
        """Wait until no new packet arrived for SETTLE seconds (bounded)."""
        deadline = time.monotonic() + limit
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            self.sniffer.poll()
            count = len(self.sniffer.segments)
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE:
                return
            time.sleep(0.03)

    def _sync(self) -> None:
        """One step: bring ``annotated`` up to date."""
        if self.sniffer is not None:
            if self.sniffer.running:
                self._settle()
            segments = self.sniffer.segments
            self.steps.append(len(segments))
        else:
            segments = self.recorded
            if self._step < len(self.steps):
                segments = segments[:self.steps[self._step]]
        self._step += 1
        for seg in segments[len(self.annotated):]:
            self.annotated.append(self._annotator.feed(seg))

    @property
    def packets(self) -> list:
        """Every packet captured so far, annotated (a step)."""
        self._sync()
        return list(self.annotated)

    @property
    def streams(self) -> list:
        """The TCP connections (and UDP conversations) seen so far."""
        return list(self._annotator.streams)

    def new(self) -> list:
        """The packets captured since the last ``new()``/``show_new()`` (a step)."""
        self._sync()
        out = self.annotated[self._shown:]
        self._shown = len(self.annotated)
        return out

    def show_new(self, title: str = "new packets") -> list:
        """Show the packets captured since the last time, one row each, explained (a step)."""
        from lab.capture.render import packet_table

        fresh = self.new()
        label = f"{title}: {len(fresh)} packet{'s' if len(fresh) != 1 else ''} ({self.source})"
        t0 = self.annotated[0].segment.time if self.annotated else None
        show(packet_table(fresh, title=label, t0=t0))
        return fresh

    def show_all(self, title: str = "all packets") -> list:
        """Show every packet captured so far (a step)."""
        from lab.capture.render import packet_table

        everything = self.packets
        show(packet_table(everything, title=f"{title}: {len(everything)} packets ({self.source})"))
        return everything

    def stream(self, index: int = 0, proto: str = "tcp"):
        """The ``index``-th TCP connection of the capture (0 = the first one)."""
        found = [s for s in self.streams if s.proto == proto]
        if index >= len(found):
            raise LookupError(f"the capture has only {len(found)} {proto.upper()} connection(s)")
        return found[index]

    def ladder(self, index: int = 0, figure: bool = True):
        """A ladder diagram of connection ``index``: text, and a matplotlib figure (a step)."""
        from lab.capture.render import ladder, ladder_figure

        self._sync()
        stream = self.stream(index)
        show(ladder(self.annotated, stream, width=110))
        if figure:
            import matplotlib.pyplot as plt

            fig = ladder_figure(self.annotated, stream)
            plt.show()
            plt.close(fig)

    def summary(self, title: str = "one row per connection") -> None:
        """Per-connection summary: 4-tuple, ephemeral port, bytes, how it ended (a step)."""
        from lab.capture.render import summary_table

        self._sync()
        show(summary_table([s for s in self.streams if s.proto == "tcp"] or self.streams,
                           title=f"{title} ({self.source})"))

    def payloads(self, role: str | None = None, stream: int | None = None) -> bytes:
        """Every payload byte captured so far, in capture order (a step).

        ``role``: only what the "client" or the "server" sent; ``stream``:
        only that connection.  Retransmitted copies are left out.
        """
        self._sync()
        return b"".join(a.segment.payload for a in self.annotated
                        if a.segment.length and (role is None or a.role == role)
                        and (stream is None or a.stream == stream)
                        and "retransmission" not in a.analysis)

    def show_flagged(self, title: str = "packets Wireshark would flag", limit: int = 12) -> list:
        """Only the packets with a tcp.analysis flag (zero window, retransmission...), at most ``limit`` (a step)."""
        from lab.capture.render import packet_table

        self._sync()
        flagged = [a for a in self.annotated if a.analysis]
        counts: dict[str, int] = {}
        for a in flagged:
            for name in a.analysis:
                counts[name] = counts.get(name, 0) + 1
        t0 = self.annotated[0].segment.time if self.annotated else None
        shown = flagged[:limit]
        show(packet_table(shown, t0=t0, title=f"{title}: {len(flagged)} of {len(self.annotated)} packets "
                                              f"({', '.join(f'{k} {v}' for k, v in counts.items()) or 'none'}); "
                                              f"the first {len(shown)} ({self.source})"))
        return flagged

    def stop(self) -> None:
        """Stop capturing (idempotent); a last step takes in what was still queued."""
        if self.sniffer is not None and self.sniffer.running:
            self._settle(limit=1.0)
            self.sniffer.stop()
            self._sync()
            directory = os.environ.get(RECORD_ENV)
            if directory:
                self.save(Path(directory))

    def save(self, directory: Path) -> Path:
        """Write the capture and its steps (what tools/record_lessons.py keeps)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.sniffer.write(directory / f"{self.name}.pcap")
        # The last step (stop's) would cut nothing: keep only the notebook's own steps.
        meta = {"steps": self.steps[:-1], "server_ports": [self.port]}
        (directory / f"{self.name}.json").write_text(json.dumps(meta) + "\n")
        return directory / f"{self.name}.pcap"


# --- the byte-stream lesson ------------------------------------------------------------

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


# --- the slow-reader lesson --------------------------------------------------------------

@dataclass
class SlowReaderResult:
    """What happened to the room while one member stopped reading."""

    server: str
    sent: int = 0                 # lines alice managed to hand to her socket
    received_by_bob: int = 0      # of those, how many bob received
    alice_blocked: bool = False   # alice's own sendall() blocked: the server stopped reading her
    sleepy_dropped: str | None = None  # how the server ended sleepy's connection, if it did
    last_arrival_s: float | None = None  # when bob got his last line (seconds after alice began)
    watched_s: float = 0.0
    events: list = field(default_factory=list)

    @property
    def frozen(self) -> bool:
        return self.received_by_bob < self.sent or self.alice_blocked

    def row(self) -> dict:
        return {"server": self.server, "alice sent": self.sent, "bob received": self.received_by_bob,
                "alice blocked?": "yes" if self.alice_blocked else "no",
                "bob's last line at": "-" if self.last_arrival_s is None else f"{self.last_arrival_s:.2f} s",
                "sleepy": self.sleepy_dropped or "still connected",
                "verdict": "FROZEN: the room stopped" if self.frozen else "the room carried on"}


def slow_reader(kind: str = "reference", lines: int = 200, size: int = 400, watch: float = 3.0,
                port: int = 0) -> SlowReaderResult:
    """Three members: alice sends ``lines`` lines, bob reads, sleepy never reads.  Bounded by ``watch`` s.

    ``kind="naive"`` uses the tutorial server (lab.naive_server: one lock,
    blocking sendall); ``"reference"`` the lab's ChatServer with a small
    send queue (16 KiB), so its bound is reached in a fraction of a second.
    The server's flood limit is lifted (alice sends faster than 10 lines/s).
    Everything is closed before this function returns.
    """
    from lab.lifecycle import EventLog
    from lab.naive_server import NaiveChatServer
    from lab.server import ChatServer, ServerConfig

    if kind == "naive":
        server = NaiveChatServer(HOST, port, sndbuf=4096, nodelay=True)
        log = None
    else:
        log = EventLog(verbosity=0)
        server = ChatServer(ServerConfig(host=HOST, port=port, rate=1e6, burst=10**6, send_queue=16 * 1024,
                                         sndbuf=4096, shutdown_grace=0.2), log=log)
    result = SlowReaderResult(server="naive (tutorial)" if kind == "naive" else "reference (lab.server)",
                              watched_s=watch)
    peers: list[ChatPeer] = []
    try:
        server.start()
        sleepy = ChatPeer(server.address, "sleepy", rcvbuf=4096)  # reads nothing from now on
        peers.append(sleepy)
        bob = ChatPeer(server.address, "bob")
        peers.append(bob)
        alice = ChatPeer(server.address, "alice")
        peers.append(alice)
        bob.read(quiet=0.2)  # "alice joined"
        counted: list[float] = []
        began = time.monotonic()
        stop = threading.Event()

        def bob_reads() -> None:
            while not stop.is_set():
                for line in bob.read(quiet=0.1, limit=0.3):
                    if "<alice> line " in line:
                        counted.append(time.monotonic() - began)

        reader = threading.Thread(target=bob_reads, name="bob", daemon=True)
        reader.start()
        body = "x" * max(0, size - 20)
        alice.sock.settimeout(0.5)  # a sendall() that cannot finish in 0.5 s means the server stopped reading
        for i in range(1, lines + 1):
            try:
                alice.sock.sendall(f"line {i:05d} {body}\n".encode())
            except (TimeoutError, socket.timeout):
                result.alice_blocked = True
                break
            result.sent = i
            time.sleep(0.002)  # a fast typist, not a flood: bob has time to read
        deadline = began + watch
        while time.monotonic() < deadline and len(counted) < result.sent:
            time.sleep(0.05)
        time.sleep(0.3 if len(counted) < result.sent else 0)  # no late stragglers hiding
        stop.set()
        reader.join(1)
        result.received_by_bob = len(counted)
        result.last_arrival_s = counted[-1] if counted else None
    finally:
        # The server first: every member's connection then ends the same way
        # (shutdown), not in the order the notebook happens to close them.
        _stop_server(server)
        for peer in peers:
            peer.close()
    if log is not None:
        result.events = list(log.events)
        for event in log.of_kind("closed"):
            if getattr(event, "name", None) == "sleepy" and event.how == "dropped":
                result.sleepy_dropped = f"dropped: {event.detail}"
    return result


def _stop_server(server) -> None:
    """Stop a lab server; for the naive one, also wake its accept() so its thread ends now."""
    listener = getattr(server, "_listener", None)
    if listener is not None and not hasattr(server, "room"):
        # NaiveChatServer.stop() only close()s its listening socket, which does
        # not wake a thread blocked in accept() on Linux; shutdown() does.
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    server.stop()


def show_slow_reader(*results: SlowReaderResult) -> None:
    """The slow-reader experiments side by side."""
    rows = [r.row() for r in results]
    show(table(rows, "one member stops reading: what happens to the others?"))


def server_threads(settle: float = 0.3) -> list[str]:
    """Names of the threads the lab's servers run in this process (accept, client-N, ...).

    Waits ``settle`` seconds first, so that threads that are just starting or
    ending have done so.
    """
    time.sleep(settle)
    ours = ("accept", "client-", "backlog", "writer", "naive-accept")
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(ours))


# --- the TLS lesson ------------------------------------------------------------------------

TLS_CONTENT_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
TLS_HANDSHAKE_TYPES = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 8: "EncryptedExtensions",
                       11: "Certificate", 13: "CertificateRequest", 15: "CertificateVerify", 20: "Finished"}


def tls_records(stream: bytes) -> list[dict]:
    """Split one direction's TCP bytes into TLS records: type, version, length (pure).

    Only the 5-byte record header is readable; what follows is encrypted,
    except the first handshake messages (ClientHello, ServerHello).
    """
    out = []
    i = 0
    while i + 5 <= len(stream):
        ctype, major, minor, length = stream[i], stream[i + 1], stream[i + 2], int.from_bytes(stream[i + 3:i + 5], "big")
        if ctype not in TLS_CONTENT_TYPES or major != 3:
            break
        body = stream[i + 5:i + 5 + length]
        what = TLS_CONTENT_TYPES[ctype]
        if ctype == 22 and body and body[0] in TLS_HANDSHAKE_TYPES and body[0] in (1, 2):
            what += f" ({TLS_HANDSHAKE_TYPES[body[0]]}, readable)"
        elif ctype == 23:
            what += " (encrypted)"
        out.append({"record": len(out) + 1, "type": what, "header": stream[i:i + 5].hex(" "), "length": length,
                    "first bytes": body[:12].hex(" ")})
        i += 5 + length
    return out


def find_text(data: bytes, text: str) -> str:
    """Where ``text`` appears in captured bytes, as a short excerpt, or a clear 'not found'."""
    at = data.find(text.encode())
    if at < 0:
        return f"{text!r} does not appear anywhere in the {len(data)} captured bytes"
    excerpt = data[max(0, at - 20):at + len(text) + 20]
    return f"found {text!r} at byte {at}: ...{excerpt!r}..."


def lab_ca(directory: str | os.PathLike) -> Any:
    """A lab CA and a server certificate for 127.0.0.1/localhost in ``directory`` (what `chatlab tls init` makes)."""
    from lab.tls.certs import init_lab_files

    paths, _names = init_lab_files(directory, hosts=["localhost"], ips=["127.0.0.1"], force=True)
    return paths


# --- TCP vs UDP under loss --------------------------------------------------------------

def compare(loss: int = 20, messages: int = 200, seed: int = 7) -> dict:
    """lab.compare's experiment in an emulated network when permitted, else on loopback (with a note).

    The namespaces (``nblabPID-...``) exist only during this call:
    lab.netlab removes them in ``finally``, even if the experiment fails.
    """
    from lab.compare import can_use_namespaces, run_compare

    problem = can_use_namespaces()
    if os.environ.get(FORCE_RECORDED_ENV):
        problem = f"{FORCE_RECORDED_ENV}=1 asks for the version without root"
    if problem:
        note(f"**No emulated network here** ({problem}). The UDP half runs through a lossy relay on "
             "127.0.0.1 instead (the relay drops datagrams with a seeded random generator); the TCP half "
             "is skipped, because making the kernel lose TCP segments needs root. Run the notebook with "
             "root (sudo) to see both.")
    from lab.netlab import NetlabError

    try:
        return run_compare(loss=loss, messages=messages, seed=seed, force_loopback=bool(problem),
                           prefix=f"{NETLAB_PREFIX}{os.getpid()}")
    except NetlabError as exc:
        # e.g. root in a container without CAP_SYS_ADMIN: euid 0, yet no namespaces.
        note(f"**No emulated network here**: building it failed ({exc}). The UDP half runs through a "
             "lossy relay on 127.0.0.1 instead; the TCP half is skipped.")
        return run_compare(loss=loss, messages=messages, seed=seed, force_loopback=True)


def remove_stale_netlabs() -> list[str]:
    """Remove notebook namespaces (nblabPID-...) whose kernel PID no longer exists; returns their prefixes."""
    import re

    from lab.netlab import Netlab, list_namespaces, privilege_problem

    if privilege_problem():
        return []
    stale = set()
    for ns in list_namespaces():
        found = re.match(rf"^({NETLAB_PREFIX}(\d+))-", ns)
        if found and not Path(f"/proc/{found.group(2)}").exists():
            stale.add(found.group(1))
    for prefix in sorted(stale):
        Netlab(prefix=prefix, clients=1).down()
    return sorted(stale)


def compare_table(results: dict) -> None:
    """The experiment's numbers, TCP and UDP side by side."""
    rows = []
    for proto in ("tcp", "udp"):
        r = results.get(proto, {})
        if "sent" not in r:
            rows.append({"protocol": proto.upper(), "sent": "-", "delivered": "-", "lost": "-",
                         "in order": "-", "retransmissions": r.get("skipped", "-"), "latency p50 / max (ms)": "-"})
            continue
        lat = r["latency_ms"]
        rows.append({"protocol": proto.upper(), "sent": r["sent"], "delivered": r["delivered"], "lost": r["lost"],
                     "in order": "yes" if r["out_of_order"] == 0 else f"{r['out_of_order']} out of order",
                     "retransmissions": r.get("retransmissions", "none (UDP never resends)" if proto == "udp" else "-"),
                     "latency p50 / max (ms)": f"{lat['p50']} / {lat['max']}"})
    show(table(rows, f"{results['messages']} chat messages, {results['loss']} % loss per router crossing "
                     f"({results['mode']})"))


# --- the lesson: owns and cleans up everything --------------------------------------------

class Lesson:
    """One notebook's resources, stopped by ``cleanup()``, at exit, and on failure inside helpers."""

    def __init__(self, title: str):
        self.title = title
        self._resources: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()
        atexit.register(self.cleanup, quiet=True)
        from lab.capture.sniffer import capture_problem
        from lab.netlab import privilege_problem

        self.capture_problem = capture_problem("lo")
        self.netns_problem = privilege_problem()
        if os.environ.get(FORCE_RECORDED_ENV):
            self.capture_problem = self.netns_problem = f"{FORCE_RECORDED_ENV}=1 is set"
        for prefix in remove_stale_netlabs():
            note(f"removed the emulated network {prefix!r} left by a notebook kernel that was killed", "info")
        rows = [{"what": "packet capture on lo",
                 "status": "yes (live)" if self.capture_problem is None else
                 f"no: {self.capture_problem}; RECORDED captures are used instead"},
                {"what": "emulated network (namespaces)",
                 "status": "yes" if self.netns_problem is None else f"no: {self.netns_problem}"},
                {"what": "Python", "status": sys.version.split()[0]}]
        show(table(rows, f"Lesson {title}: what this machine allows", ["what", "status"]))

    # -- bookkeeping ------------------------------------------------------------------------
    def track(self, what: str, close: Callable[[], None]) -> None:
        """Remember something to stop at cleanup (stopped in reverse order)."""
        with self._lock:
            self._resources.append((what, close))

    def cleanup(self, quiet: bool = False) -> list[str]:
        """Stop everything this lesson started (idempotent); returns what was stopped."""
        with self._lock:
            resources, self._resources = self._resources, []
        stopped = []
        for what, close in reversed(resources):
            try:
                close()
                stopped.append(what)
            except Exception as exc:  # one failure must not keep the rest running
                stopped.append(f"{what} (while stopping: {exc})")
        if not quiet:
            print(f"stopped {len(stopped)} thing(s): " + (", ".join(stopped) if stopped else "nothing was running"))
            leftover = [t.name for t in threading.enumerate() if t.name.startswith(("client-", "accept", "naive"))]
            print("server threads still running:", leftover or "none")
        return stopped

    # -- things a lesson starts --------------------------------------------------------
    def server(self, verbosity: int = 0, **config):
        """A started lab.server.ChatServer on 127.0.0.1 (a free port unless ``port=``)."""
        from lab.lifecycle import EventLog
        from lab.server import ChatServer, ServerConfig

        config.setdefault("host", HOST)
        config.setdefault("port", 0)
        config.setdefault("shutdown_grace", 0.3)
        log = EventLog(verbosity=verbosity, console=console() if verbosity else None)
        server = ChatServer(ServerConfig(**config), log=log)
        server.start()
        self.track(f"chat server {config['host']}:{server.address[1]}", server.stop)
        return server

    def peer(self, server_or_address, name: str | None = None, **kwargs) -> ChatPeer:
        """A ChatPeer connected (and joined as ``name``) to a server or (host, port)."""
        address = server_or_address.address if hasattr(server_or_address, "address") else server_or_address
        peer = ChatPeer(address, name, **kwargs)
        self.track(f"client {name or peer.local[1]}", peer.close)
        return peer

    def process_client(self, server, name: str, mode: str = "reads") -> ClientProcess:
        """A chat client in its own process (see ClientProcess)."""
        child = ClientProcess(server.address[1], name, mode)
        self.track(f"client process {name} (pid {child.proc.pid})", child.stop)
        return child

    def capture(self, port: int, name: str, live: bool = True) -> Capture:
        """Capture the packets of ``port`` on lo: live if permitted, else the recording ``name``."""
        cap = Capture(port, name, live=live)
        self.track(f"capture {name}", cap.stop)
        return cap

    def tcp_pair(self, rcvbuf: int | None = None, nodelay: bool = True,
                 listener: socket.socket | None = None) -> tuple[socket.socket, socket.socket, int]:
        """A connected pair of plain TCP sockets on 127.0.0.1: (client, server side, port).

        ``rcvbuf`` sets SO_RCVBUF on the receiving (server) side before the
        handshake, so the small window is offered from the first segment.
        With ``listener`` (from ``self.listener()``) the pair is made on that
        listening socket, which stays open; otherwise a throw-away one is used.
        """
        own = listener is None
        listener = listener or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if own:
                if rcvbuf:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited by accept()
                listener.bind((HOST, 0))
                listener.listen(1)
            port = listener.getsockname()[1]
            client.settimeout(5)
            client.connect((HOST, port))
            listener.settimeout(5)
            server_side, _ = listener.accept()
        except BaseException:
            client.close()
            raise
        finally:
            if own:
                listener.close()
        for s in (client, server_side):
            s.settimeout(None)
            if nodelay:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.track(f"socket pair port {port}", lambda: (client.close(), server_side.close()))
        return client, server_side, port

    def listener(self, reuseaddr: bool = True) -> socket.socket:
        """A listening socket on 127.0.0.1 and a free port, closed at cleanup."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if reuseaddr:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
            sock.listen(8)
        except BaseException:
            sock.close()
            raise
        self.track(f"listening socket {sock.getsockname()[1]}", sock.close)
        return sock

    def close_later(self, sock: socket.socket, what: str = "socket") -> socket.socket:
        """Register any socket the notebook made itself."""
        self.track(what, sock.close)
        return sock

    def tempdir(self) -> Path:
        """A temporary directory, removed at cleanup."""
        import shutil
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="chatlab-lesson-"))
        self.track(f"temporary directory {path}", lambda: shutil.rmtree(path, ignore_errors=True))
        return path


def try_bind(port: int, reuseaddr: bool) -> str:
    """Try to bind and listen on 127.0.0.1:``port``; say what happened (the socket is closed again)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if reuseaddr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(1)
        return f"SO_REUSEADDR={int(reuseaddr)}: bind() to port {port} succeeded"
    except OSError as exc:
        return f"SO_REUSEADDR={int(reuseaddr)}: bind() to port {port} failed: [Errno {exc.errno}] {exc.strerror}"
    finally:
        sock.close()


def tcp_state(sock: socket.socket) -> str:
    """The kernel's TCP state of ``sock`` (from TCP_INFO), e.g. ESTABLISHED, CLOSE_WAIT."""
    from lab.tcpinfo import read_tcp_info

    info = read_tcp_info(sock)
    return info.state if info else "unknown (TCP_INFO is Linux only)"


def events(log_or_events, kinds: tuple[str, ...] = ("listening", "accepted", "named", "closed", "stopped")) -> None:
    """Show lifecycle events (lab.lifecycle) as sentences: a server's ``log``, or a list of events."""
    from lab.lifecycle import EventLog

    found = getattr(log_or_events, "events", log_or_events)
    for event in list(found):
        if event.kind in kinds:
            show(EventLog.render(event))


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (to start a capture before the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def show_lines(lines: list[str], title: str = "server lines, parsed with lab.protocol.parse_server_line") -> None:
    """Server lines as a table: time, kind, name, body (the documented parsing rule)."""
    from lab.protocol import parse_server_line

    rows = []
    for line in lines:
        parsed = parse_server_line(line)
        if parsed is None:
            rows.append({"time": "", "kind": "(not a server line)", "name": "", "code": "", "text": line})
        else:
            rows.append({"time": parsed.time, "kind": parsed.kind, "name": parsed.name or "",
                         "code": parsed.code or "", "text": parsed.text})
    show(table(rows, title, ["time", "kind", "name", "code", "text"]))


SECRET = "my password is hunter2"


def secret_chat(address: tuple[str, int], tls=None) -> list[str]:
    """alice and bob join, alice says SECRET, bob reads it, both /quit.  Returns bob's lines."""
    alice = bob = None
    try:
        alice = ChatPeer(address, "alice", tls=tls, server_hostname="localhost" if tls else None)
        bob = ChatPeer(address, "bob", tls=tls, server_hostname="localhost" if tls else None)
        alice.expect("bob joined")
        alice.send(SECRET)
        bob.expect(SECRET)
        bob.quit()
        alice.quit()
        return bob.lines
    finally:
        for peer in (alice, bob):
            if peer is not None:
                peer.close()


__all__ = [
    "Capture", "ChatPeer", "ClientProcess", "Lesson", "SECRET", "SlowReaderResult", "compare", "compare_table",
    "console", "events", "find_text", "free_port", "secret_chat", "show_lines", "lab_ca", "note", "parse_proc_net_tcp", "recv_all", "send_in_thread",
    "server_threads", "show", "show_chunks", "show_slow_reader", "show_sockets", "slow_reader", "sockets",
    "table", "tcp_state", "tls_records", "try_bind",
]

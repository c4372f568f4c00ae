"""Traffic scenarios (on 127.0.0.1 unless told otherwise), a tcpdump recorder and tshark's reference fields.

Used by tests/fixtures/pcaps/record.py (to record the fixture pcaps) and by
the privileged tests that record a fresh capture and compare with tshark.
Plain Python sockets speaking the chat's line protocol: the scenarios need
exact control over when a socket is closed with unread data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

from tests.helpers.chat import free_port  # noqa: F401  (the capture tests call sc.free_port)
from tests.helpers.waiting import wait_for

ANALYSIS_FLAGS = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "duplicate_ack", "lost_segment", "ack_lost_segment", "zero_window", "zero_window_probe",
    "zero_window_probe_ack", "window_full", "window_update", "keep_alive", "keep_alive_ack",
    "reused_ports",
)
FIELDS = ("frame.number", "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack",
          "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "udp.length",
          # the machinery (issue 13): windows, RTT, bytes in flight, SYN options, SACK
          "tcp.nxtseq", "tcp.window_size_value", "tcp.window_size", "tcp.window_size_scalefactor",
          "tcp.analysis.ack_rtt", "tcp.analysis.acks_frame", "tcp.analysis.bytes_in_flight",
          "tcp.analysis.rto", "tcp.analysis.rto_frame", "tcp.options.mss_val", "tcp.options.wscale.shift",
          "tcp.options.sack_perm", "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
          "tcp.options.sack_le", "tcp.options.sack_re", "tcp.options.sack.dsack_le", "tcp.options.sack.dsack_re")


MARKER = b"chatlab-capture-marker"


def unread_bytes(sock: socket.socket) -> int:
    """Bytes waiting in ``sock``'s receive buffer (ioctl FIONREAD / SIOCINQ)."""
    import fcntl
    import termios

    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def _markers_in(path: Path) -> set[bytes]:
    from lab.capture import read_pcap
    from lab.capture.files import CaptureFileError

    try:
        return {s.payload for s in read_pcap(path) if s.proto == "udp" and s.payload.startswith(MARKER)}
    except (CaptureFileError, OSError):
        return set()   # the file header is not written yet


def _in_netns(netns: str | None):
    """A context in which new sockets belong to network namespace ``netns`` (None: this one)."""
    if netns is None:
        return contextlib.nullcontext()
    from lab.net.netlab import inside_namespace
    return inside_namespace(netns)


def _mark(path: Path, port: int, tag: str, timeout: float = 15.0, host: str = "127.0.0.1",
          netns: str | None = None) -> None:
    """Send marker datagrams to ``port`` until tcpdump has written one to ``path``.

    A barrier without a sleep: once the start marker is in the file, tcpdump
    captures; once the end marker is, every packet sent before it is there
    (one capture socket delivers in order).
    """
    with _in_netns(netns):
        udp = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    with udp:
        deadline = time.monotonic() + timeout
        n = 0
        while True:
            n += 1
            marker = MARKER + f" {tag} {n}".encode()
            udp.sendto(marker, (host, port))
            try:
                wait_for(lambda: marker in _markers_in(path), f"tcpdump to write the {tag} marker",
                         timeout=0.3, every=0.01)
                return
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"tcpdump wrote none of {n} {tag} markers to {path}") from None


def _strip_markers(path: Path) -> None:
    """Remove the marker datagrams (editcap keeps everything else as tcpdump wrote it)."""
    from lab.capture import read_frames
    from lab.capture.files import segments_from_frames

    frames = read_frames(path)
    marked = [s.number for s in segments_from_frames(frames) if s.proto == "udp" and s.payload.startswith(MARKER)]
    if marked:
        tmp = path.with_name(path.name + ".tmp")
        subprocess.run(["editcap", str(path), str(tmp), *map(str, marked)], check=True, capture_output=True)
        tmp.replace(path)


@contextlib.contextmanager
def tcpdump(path: Path, port: int, iface: str = "lo", extra: tuple[str, ...] = (), netns: str | None = None,
            marker_host: str = "127.0.0.1"):
    """Record `port` on `iface` (in namespace `netns`) into `path` with tcpdump while the block runs.

    Starts and stops on markers (see _mark) sent to `marker_host`, never on
    a sleep; the markers are removed from the file afterwards.
    """
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.Popen([*prefix, "tcpdump", "-i", iface, "-U", "-n", "--immediate-mode", *extra, "-w",
                             str(path), f"port {port}"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    mark = dict(host=marker_host, netns=netns)
    try:
        try:
            _mark(path, port, "start", **mark)
        except RuntimeError:
            if proc.poll() is not None:
                raise RuntimeError(f"tcpdump did not start: {proc.stderr.read().decode().strip()}") from None
            raise
        yield proc
        _mark(path, port, "end", **mark)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _strip_markers(path)


def tshark_fields(path: Path) -> list[dict]:
    """tshark's view of every TCP/UDP frame: the fields above plus each analysis flag."""
    out = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.relative_sequence_numbers:TRUE",
                          "-T", "fields", "-E", "separator=\t", *sum((["-e", f] for f in FIELDS), [])],
                         capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        values = line.split("\t")
        row = dict(zip(FIELDS, values))
        if not row.get("tcp.srcport") and not row.get("udp.length"):
            continue
        row["analysis"] = []
        rows[int(row["frame.number"])] = row
    for flag in ANALYSIS_FLAGS:
        out = subprocess.run(["tshark", "-r", str(path), "-Y", f"tcp.analysis.{flag}", "-T", "fields",
                              "-e", "frame.number"], capture_output=True, text=True, check=True).stdout
        for number in out.split():
            rows[int(number)]["analysis"].append(flag)
    return [rows[n] for n in sorted(rows)]


def write_expected(path: Path) -> Path:
    """Store tshark's fields beside the pcap as a .tsv (analysis flags comma-separated)."""
    rows = tshark_fields(path)
    target = path.with_suffix(".tshark.tsv")
    lines = ["\t".join((*FIELDS, "analysis"))]
    for row in rows:
        lines.append("\t".join((*(row.get(f, "") for f in FIELDS), ",".join(row["analysis"]))))
    target.write_text("\n".join(lines) + "\n")
    return target


def read_expected(path: Path) -> list[dict]:
    """The rows write_expected() stored."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        row["analysis"] = [a for a in row.get("analysis", "").split(",") if a]
        rows.append(row)
    return rows


# --- scenarios -------------------------------------------------------------------

class LineServer:
    """A tiny chat-like server (on 127.0.0.1 by default): greets, reads lines, answers each one."""

    def __init__(self, port: int, rcvbuf: int | None = None, mss: int | None = None, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if mss:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.conns: list[socket.socket] = []

    def accept(self, timeout: float = 15.0) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        self.conns.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()


def _recv_until(sock: socket.socket, token: bytes, limit: float = 5.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while token not in data and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, socket.timeout):
            break  # under loss a FIN can come late; the scenario goes on
        if not chunk:
            break
        data += chunk
    return data


def _say(sender: socket.socket, receiver: socket.socket, line: bytes) -> None:
    """``sender`` sends one line; wait until ``receiver`` has read it, so each step is its own segment."""
    sender.sendall(line)
    _recv_until(receiver, b"\n")


def scenario_handshake(port: int) -> None:
    """Connect, then both sides close: three handshake packets and an orderly close."""
    server = LineServer(port)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        conn = server.accept()
        client.close()
        _recv_until(conn, b"never", 1.0)
        conn.close()
    finally:
        server.close()


def scenario_chat(port: int, host: str = "127.0.0.1") -> None:
    """Two clients chat through a relay: hello, names, a broadcast, a private line, /quit."""
    server = LineServer(port, host=host)
    try:
        alice = socket.create_connection((host, port))
        a = server.accept()
        _say(a, alice, b"12:00:00 --- hello: welcome to chat-lab! What is your name?\r\n")
        _say(alice, a, b"alice\n")
        _say(a, alice, b"12:00:01 --- welcome: you are alice; 1 online: alice.\r\n")
        bob = socket.create_connection((host, port))
        b = server.accept()
        _say(b, bob, b"12:00:02 --- hello: welcome to chat-lab! What is your name?\r\n")
        _say(bob, b, b"bob\n")
        _say(a, alice, b"12:00:02 *** bob joined\r\n")
        _say(alice, a, b"hi everyone\n")
        _say(b, bob, b"12:00:03 <alice> hi everyone\r\n")
        _say(bob, b, b"/msg alice psst, the answer is listen()\n")
        _say(a, alice, b"12:00:04 *bob* psst, the answer is listen()\r\n")
        _say(bob, b, b"/quit\n")
        b.sendall(b"12:00:05 --- bye: see you\r\n")
        b.close()
        _recv_until(bob, b"never", 1.0)
        bob.close()
        alice.close()
        _recv_until(a, b"never", 1.0)
        a.close()
    finally:
        server.close()


def scenario_fin(port: int) -> None:
    """The client sends /quit, the server says bye and closes: FIN one way, FIN the other."""
    server = LineServer(port)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        conn = server.accept()
        _say(client, conn, b"carol\n")
        _say(client, conn, b"/quit see you\n")
        conn.sendall(b"12:00:00 --- bye: see you\r\n")
        conn.shutdown(socket.SHUT_WR)
        _recv_until(client, b"never", 1.0)
        client.close()
        _recv_until(conn, b"never", 1.0)
        conn.close()
    finally:
        server.close()


def scenario_rst(port: int) -> None:
    """The server sends a line the client never reads; the client closes: RST, not FIN."""
    server = LineServer(port)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        conn = server.accept()
        _say(client, conn, b"dave\n")
        conn.sendall(b"12:00:00 <alice> are you still there, dave?\r\n")
        wait_for(lambda: unread_bytes(client) > 0, "the line to reach dave's receive buffer")
        client.close()   # closing with unread data: the kernel answers with RST
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            conn.recv(100)  # ConnectionResetError: how the server learns about the RST
        conn.close()
    finally:
        server.close()


def scenario_bulk(port: int, total: int = 300_000, chunk: int = 1000, host: str = "127.0.0.1",
                  server_netns: str | None = None, client_netns: str | None = None, paced: bool = True,
                  mss: int | None = 1400) -> None:
    """One client sends many chat lines (used with loss for retransmissions).

    On loopback both sides use a 1400-byte MSS, as on Ethernet, so that the
    transfer is many segments rather than a few 64 KiB loopback ones.
    ``paced``: a short pause every 20 lines, like a chat (else a bulk copy).
    The sockets can live in network namespaces (the netlab router's hosts).
    """
    with _in_netns(server_netns):
        server = LineServer(port, mss=mss, host=host)
    received = []
    try:
        with _in_netns(client_netns):
            client = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if mss:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        # Generous bounds: under 20 % loss TCP's retransmission timer backs
        # off exponentially (0.2, 0.4, 0.8, ... s), so one unlucky segment
        # can stall the transfer for several seconds.
        client.settimeout(60)
        client.connect((host, port))
        conn = server.accept()

        def reader() -> None:
            conn.settimeout(60)
            n = 0
            with contextlib.suppress(OSError):
                while n < total:
                    data = conn.recv(65536)
                    if not data:
                        break
                    n += len(data)
            received.append(n)

        thread = threading.Thread(target=reader)
        thread.start()
        line = (b"x" * (chunk - 1)) + b"\n"
        for i in range(total // chunk):
            client.sendall(line)
            if paced and i % 20 == 19:
                time.sleep(0.01)  # the scenario itself: paced like a chat, not a bulk copy
        thread.join(60)
        client.close()
        _recv_until(conn, b"never", 2.0)
        conn.close()
    finally:
        server.close()


def _stall(port: int, rcvbuf: int | None, chunk: bytes, timeout: float = 15.0) -> None:
    """A receiver that stops reading while the sender keeps sending: window full, zero
    window and the sender's zero-window probes; then the receiver reads everything.

    No timing: the sender writes until its socket blocks, then waits until the
    kernel says (TCP_INFO's probes counter) that it has sent a zero-window probe.
    """
    from lab.net.tcpinfo import read_tcp_info

    server = LineServer(port, rcvbuf=rcvbuf)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        conn = server.accept()
        client.setblocking(False)
        sent = 0
        deadline = time.monotonic() + timeout
        while True:
            try:
                sent += client.send(chunk)
                continue
            except BlockingIOError:
                pass
            info = read_tcp_info(client)
            if info is not None and info.probes >= 1:
                break   # the window is zero and the persist timer has fired
            if time.monotonic() >= deadline:
                raise AssertionError(f"no zero-window probe after {timeout:.0f} s ({sent} bytes sent)")
            time.sleep(0.005)
        conn.settimeout(timeout)
        got = 0
        while got < sent:
            data = conn.recv(65536)
            if not data:
                break
            got += len(data)
        client.setblocking(True)
        client.close()
        _recv_until(conn, b"never", 1.0)
        conn.close()
    finally:
        server.close()


def scenario_zero_window(port: int) -> None:
    """A receiver with a tiny buffer stops reading: zero window, window full, probes."""
    _stall(port, rcvbuf=4096, chunk=b"y" * 1000)


def scenario_window_full_scaled(port: int) -> None:
    """The same stall with the default receive buffer: the window scale is not 0, so
    "window full" and "zero window" need the scale from the SYNs to be computed."""
    # no SO_RCVBUF: Linux offers a window scale in its SYN-ACK (shift 10 on this machine)
    _stall(port, rcvbuf=None, chunk=b"z" * 16_000)


def scenario_keepalive(port: int) -> None:
    """An idle connection with TCP keepalive every second: keep-alive and keep-alive ACK."""
    server = LineServer(port)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        conn = server.accept()
        _say(client, conn, b"erin\n")
        time.sleep(2.6)  # the scenario itself: idle for two keepalive intervals (1 s each)
        client.close()
        _recv_until(conn, b"never", 1.0)
        conn.close()
    finally:
        server.close()


def scenario_udp(port: int) -> None:
    """Chat lines over UDP: a datagram each way per line."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        server.bind(("127.0.0.1", port))
        server.settimeout(2)
        for line in (b"alice\n", b"hello over UDP\n", b"/quit\n"):
            client.sendto(line, ("127.0.0.1", port))
            _data, addr = server.recvfrom(2048)
            server.sendto(b"12:00:00 --- ok: " + line.strip() + b"\r\n", addr)
            client.settimeout(2)
            client.recvfrom(2048)
    finally:
        client.close()
        server.close()


@contextlib.contextmanager
def nft_loss(port: int, percent: int = 20, table: str | None = None, spare_syn_fin: bool = False):
    """Drop `percent`% of packets to and from `port` on the input hook (on lo the capture sees them first).

    spare_syn_fin keeps SYN and FIN segments (their retransmission timers of 1 s
    and more make a test slow without showing anything new).
    """
    table = table or f"chatlab_loss_{os.getpid()}"
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    try:
        subprocess.run(["nft", "add", "chain", "inet", table, "input",
                        "{ type filter hook input priority 0 ; }"], check=True)
        for direction in ("dport", "sport"):
            spare = ["tcp", "flags", "&", "(syn|fin)", "==", "0"] if spare_syn_fin else []
            subprocess.run(["nft", "add", "rule", "inet", table, "input", "tcp", direction, str(port), *spare,
                            "numgen", "random", "mod", "100", "<", str(percent), "drop"], check=True)
        yield table
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)


def to_sll(src: Path, dst: Path, v2: bool = False) -> None:
    """Rewrite an Ethernet pcap as Linux cooked (SLL or SLL2), like `tcpdump -i any` writes."""
    from lab.capture.files import RawFrame, read_frames, write_pcap
    frames = []
    for f in read_frames(src):
        ethertype = f.data[12:14]
        if v2:
            head = ethertype + b"\x00\x00" + struct.pack("!I", 1) + struct.pack("!HBB", 772, 0, 6) + b"\x00" * 8
        else:
            head = struct.pack("!HHH", 0, 772, 6) + b"\x00" * 8 + ethertype
        frames.append(RawFrame(f.ts_ns, 276 if v2 else 113, head + f.data[14:]))
    write_pcap(dst, frames)


def to_null(src: Path, dst: Path) -> None:
    """Rewrite an Ethernet pcap as DLT_NULL (what macOS writes for lo0)."""
    from lab.capture.files import RawFrame, read_frames, write_pcap
    frames = [RawFrame(f.ts_ns, 0, struct.pack("<I", 2) + f.data[14:]) for f in read_frames(src)]
    write_pcap(dst, frames)


def to_raw(src: Path, dst: Path) -> None:
    """Rewrite an Ethernet pcap as raw IP (LINKTYPE_RAW)."""
    from lab.capture.files import RawFrame, read_frames, write_pcap
    write_pcap(dst, [RawFrame(f.ts_ns, 101, f.data[14:]) for f in read_frames(src)])

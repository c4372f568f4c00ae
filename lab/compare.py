"""TCP vs UDP under loss: the same scripted chat over both, through a lossy router.

The experiment (``chatlab compare``, or ``run_compare()`` in a notebook):

1. an emulated network (lab.netlab): the chat server in the "server" host,
   a *sender* in "client1" and a *receiver* in "client2", a router between
   them that drops ``loss`` % of the packets it forwards (nftables);
2. the sender joins the chat and sends ``messages`` numbered lines at a
   steady pace, first over TCP (the lab's ChatServer), then over UDP (the
   lab's UdpChatServer), on the same port number;
3. the receiver notes when each line arrives; a sniffer in the router writes
   every packet that reaches the router (before the loss rule) to a pcap.

Each chat message crosses the router twice (sender -> server, server ->
receiver), so with a loss of p per crossing UDP should deliver a share of
about (1 - p)^2 of the messages: 64 % at 20 % loss.  TCP should deliver
every one, in order, paying with retransmissions (counted on the wire and by
the kernel in TCP_INFO) and with latency: a message behind a lost segment
waits for its retransmission (head-of-line blocking).

The loss is switched on only while the messages are sent (connections and
joins happen on a clean network), so both halves measure the same thing.

Without root there are no namespaces: the UDP half then runs through a lossy
UDP relay on loopback, whose drops are decided by a random generator seeded
with ``seed``; the TCP half is skipped (dropping TCP segments needs the
kernel's help, i.e. root).
"""

from __future__ import annotations

import math
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

PORT = 5050
SENDER, RECEIVER = "sender", "receiver"
DEFAULT_INTERVAL = 0.01  # seconds between two messages of the scripted chat
TCP_DRAIN_TIMEOUT = 30.0  # how long the receiver may wait for TCP to repair everything
UDP_DRAIN_TIME = 1.0  # after the last UDP message: nothing will be repaired, just let stragglers in


# --- decisions and accounting (sans-I/O) -------------------------------------

def message_text(index: int) -> str:
    """The text of scripted message ``index`` (1-based): recognisable, fixed size."""
    return f"m{index:05d} the quick brown fox jumps over the lazy dog"


_MESSAGE = re.compile(r"<" + SENDER + r"> m(\d{5}) ")


def message_index(server_line: str) -> int | None:
    """The index of a scripted message in a server line, or None."""
    found = _MESSAGE.search(server_line)
    return int(found.group(1)) if found else None


def percentiles(values: list[float]) -> dict:
    """p50, p90, p99 and max of ``values`` (nearest-rank method), None when empty."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": round(rank(0.50), 3), "p90": round(rank(0.90), 3), "p99": round(rank(0.99), 3),
            "max": round(ordered[-1], 3)}


class DeliveryAccount:
    """What arrived of what was sent: delivered, lost, duplicated, out of order, latency.

    ``sent(index, t)`` and ``arrived(index, t)`` take times in seconds from
    one clock; latency is the first arrival minus the send time, in ms.
    "out of order" counts messages that arrived after one with a higher index.
    """

    def __init__(self) -> None:
        self.send_times: dict[int, float] = {}
        self.first_arrival: dict[int, float] = {}
        self.duplicated = 0
        self.out_of_order = 0
        self._highest = 0

    def sent(self, index: int, t: float) -> None:
        self.send_times[index] = t

    def arrived(self, index: int, t: float) -> None:
        if index in self.first_arrival:
            self.duplicated += 1
            return
        self.first_arrival[index] = t
        if index < self._highest:
            self.out_of_order += 1
        self._highest = max(self._highest, index)

    @property
    def complete(self) -> bool:
        return bool(self.send_times) and set(self.send_times) <= set(self.first_arrival)

    def result(self) -> dict:
        latencies = [(self.first_arrival[i] - t) * 1000 for i, t in self.send_times.items() if i in self.first_arrival]
        sent = len(self.send_times)
        delivered = len([i for i in self.first_arrival if i in self.send_times])
        return {"sent": sent, "delivered": delivered, "lost": sent - delivered, "duplicated": self.duplicated,
                "out_of_order": self.out_of_order, "latency_ms": percentiles(latencies)}


def expected_udp_delivery(loss_percent: float, crossings: int = 2) -> float:
    """The share of UDP messages expected to arrive: (1 - p) ** crossings."""
    return (1 - loss_percent / 100) ** crossings


def binomial_bounds(n: int, p: float, sigmas: float = 6.0) -> tuple[int, int]:
    """An interval holding Binomial(n, p) except with negligible probability (normal approx.)."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return max(0, math.floor(mean - sigmas * sd)), min(n, math.ceil(mean + sigmas * sd))


class LossDecision:
    """Drop or pass, seeded: the same seed gives the same drops (the loopback relay).

    ``flow`` names one direction of one client's traffic; each flow has its
    own generator, so the drops of a flow do not depend on how the threads
    happened to interleave the flows: the same seed gives the same result.
    """

    def __init__(self, percent: float, seed: int | None, flow: str = ""):
        self.percent = percent
        self.rng = random.Random(f"{seed}:{flow}")
        self.decisions = 0
        self.drops = 0

    def drop(self) -> bool:
        self.decisions += 1
        dropped = self.rng.random() * 100 < self.percent
        self.drops += dropped
        return dropped


def count_retransmissions(segments) -> dict:
    """TCP retransmissions in a capture, the way Wireshark flags them (pure).

    A segment that carries data (or SYN/FIN) starting below the highest
    sequence number already seen in its direction is a retransmission;
    a one-byte keep-alive probe (seq = next - 1) is not.  Sequence numbers
    are compared relative to the first one seen per direction (they wrap at
    2**32).  Each packet must appear once in the capture (see DESIGN.md).
    """
    from lab.capture.decode import FIN, SYN

    highest: dict[tuple, int] = {}
    base: dict[tuple, int] = {}
    retrans = segments_with_data = 0
    by_flow: dict[str, int] = {}
    for seg in segments:
        if seg.proto != "tcp":
            continue
        flow = (seg.src, seg.sport, seg.dst, seg.dport)
        consumed = seg.length + (1 if seg.flags & SYN else 0) + (1 if seg.flags & FIN else 0)
        if consumed == 0:
            continue
        segments_with_data += 1
        if flow not in base:
            base[flow] = seg.seq
        rel = (seg.seq - base[flow]) % 2**32
        end = rel + consumed
        top = highest.get(flow)
        if top is not None and rel < top and not (seg.length <= 1 and rel == top - 1 and not seg.flags & (SYN | FIN)):
            retrans += 1
            key = f"{seg.src}:{seg.sport}->{seg.dst}:{seg.dport}"
            by_flow[key] = by_flow.get(key, 0) + 1
        highest[flow] = max(top or 0, end)
    return {"retransmissions": retrans, "segments_with_data": segments_with_data, "by_flow": by_flow}


# --- I/O: the TCP half ---------------------------------------------------------

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
    from lab.server import ChatServer, ServerConfig
    from lab.tcpinfo import read_tcp_info

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
            sender_info = read_tcp_info(sender.sock)
            receiver_info = read_tcp_info(receiver.sock)
        finally:
            set_loss(False)
        for member in (sender, receiver):
            try:
                member.sock.sendall(b"/quit\r\n")
                member.wait_for("--- bye", 5)
            except (OSError, TimeoutError, ConnectionError):
                pass
    finally:
        for s in sockets:
            s.close()
        server.stop()
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


# --- I/O: the UDP half ---------------------------------------------------------

def run_udp_half(server_ns: Callable, client_ns: Callable[[int], Callable], server_host: str,
                 messages: int, interval: float, set_loss: Callable[[bool], None],
                 port: int = PORT, server_address: tuple[str, int] | None = None) -> dict:
    """The scripted chat over UDP with the lab's UdpChatServer. Returns the UDP result dict.

    ``server_address``, when given, is where clients send (e.g. a relay)
    instead of the server's own address.
    """
    from lab.udp import UdpChatClient, UdpChatServer

    with server_ns():
        # The flood limit is lifted, as for TCP: the experiment measures the network.
        server = UdpChatServer(server_host, port, rate=1e6, burst=10**6).start()
    clients = []
    try:
        target = server_address or server.address
        with client_ns(2):
            receiver = UdpChatClient(target, RECEIVER)
        clients.append(receiver)
        with client_ns(1):
            sender = UdpChatClient(target, SENDER)
        clients.append(sender)
        receiver.join()
        sender.join()
        account = DeliveryAccount()
        seen = 0

        def take() -> None:
            nonlocal seen
            receiver.poll(0)
            for t, line in receiver.received[seen:]:
                index = message_index(line)
                if index is not None:
                    account.arrived(index, t)
            seen = len(receiver.received)

        set_loss(True)
        try:
            start = time.monotonic()
            for i in range(1, messages + 1):
                # Receive while we wait for the next send time, so arrival
                # times are accurate (same thread, same clock).
                while time.monotonic() < start + (i - 1) * interval:
                    receiver.poll(max(0.0, start + (i - 1) * interval - time.monotonic()))
                take()
                account.sent(i, time.monotonic())
                sender.send(message_text(i))
            end = time.monotonic() + UDP_DRAIN_TIME
            while time.monotonic() < end and not account.complete:
                receiver.poll(0.05)
                take()
        finally:
            set_loss(False)
        take()
        tracker = receiver.core.origins.get(SENDER)
        upstream = next((m for m in server.core.members.values() if m.name == SENDER), None)
        for c in clients:
            c.send("/quit")
    finally:
        for c in clients:
            c.close()
        server.stop()
    result = account.result()
    result["sequence_numbers"] = {
        "at_receiver": tracker.to_dict() if tracker else None,
        "at_server": upstream.upstream.to_dict() if upstream else None,
    }
    return result


class LossyUdpRelay:
    """A UDP relay on loopback that drops a seeded random share of datagrams, both ways.

    Clients send to ``address``; for each client the relay uses its own
    upstream socket, so the server still sees one address per client.
    """

    def __init__(self, server: tuple[str, int], loss: float, seed: int | None, host: str = "127.0.0.1"):
        self.server = server
        self.loss, self.seed = loss, seed
        self._decisions: dict[str, LossDecision] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = self.sock.getsockname()
        self.enabled = False
        self._up: dict[tuple, socket.socket] = {}
        self._down: dict[socket.socket, tuple] = {}
        self._order: dict[tuple, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lossy-relay", daemon=True)
        self._thread.start()

    @property
    def decisions(self) -> int:
        return sum(d.decisions for d in self._decisions.values())

    @property
    def drops(self) -> int:
        return sum(d.drops for d in self._decisions.values())

    def _maybe(self, sock: socket.socket, data: bytes, to: tuple, flow: str) -> None:
        if self.enabled:
            decide = self._decisions.setdefault(flow, LossDecision(self.loss, self.seed, flow))
            if decide.drop():
                return
        try:
            sock.sendto(data, to)
        except OSError:
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock, *self._down], [], [], 0.1)
            for s in ready:
                try:
                    data, source = s.recvfrom(65535)
                except OSError:
                    continue
                if s is self.sock:
                    up = self._up.get(source)
                    if up is None:
                        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        up.bind((self.address[0], 0))
                        self._up[source], self._down[up] = up, source
                        self._order[source] = len(self._order)  # clients numbered as they appear
                    self._maybe(up, data, self.server, f"{self._order[source]}:up")
                else:
                    self._maybe(self.sock, data, self._down[s], f"{self._order[self._down[s]]}:down")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for s in [self.sock, *self._down]:
            s.close()


# --- the sniffer in the router ---------------------------------------------------

class RouterCapture:
    """tcpdump in the router namespace, inbound packets only, to a pcap file.

    ``-i any -Q in`` records each packet once, as it *enters* the router,
    before the forward hook where the loss rule drops it: so the capture
    holds every transmission, including the ones the router then drops
    (DESIGN.md: a packet dropped before the capture tap is never seen).
    """

    def __init__(self, net, path: Path, port: int = PORT):
        self.net, self.path, self.port = net, path, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # -Z root: tcpdump would otherwise drop to the "tcpdump" user and may
        # then be unable to write the file.
        self.proc = self.net.popen("router", ["tcpdump", "-i", "any", "-Q", "in", "-n", "-U", "-Z", "root",
                                              "-w", str(self.path), f"port {self.port}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tcpdump says "listening on" once its socket is open: the barrier.
        # Raw reads (not readline) so select() never misses buffered text.
        said = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                said += chunk
                if b"listening on" in said:
                    return
                if not chunk:
                    break
        self.stop()
        last = said.decode(errors="replace").strip().splitlines()
        raise RuntimeError("tcpdump did not start in the router namespace"
                           + (f": {last[-1]}" if last else ""))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # tcpdump flushes the file on SIGINT
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def analyse(self) -> dict:
        from lab.capture.pcapio import read_pcap

        segments = read_pcap(self.path)
        found = count_retransmissions(segments)
        found["packets"] = len(segments)
        found["udp_datagrams"] = sum(1 for s in segments if s.proto == "udp")
        found["wireshark"] = tshark_analysis(self.path)
        return found


_TSHARK_FLAGS = ("retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order")


def tshark_analysis(path: Path) -> dict | None:
    """How Wireshark labels the resent segments of a capture, or None without tshark.

    Keys: retransmission (which includes fast and spurious ones),
    fast_retransmission, spurious_retransmission (the data had arrived; an
    ACK was lost), out_of_order.  Wireshark calls a segment that fills a gap
    very soon (< 3 ms) after a later one "out-of-order" rather than a
    retransmission: in this capture the sender never reorders, so those are
    fast retransmissions too, and retransmission + out_of_order equals our
    ``count_retransmissions``.
    """
    if shutil.which("tshark") is None:
        return None
    argv = ["tshark", "-n", "-r", str(path), "-Y", " || ".join(f"tcp.analysis.{f}" for f in _TSHARK_FLAGS),
            "-T", "fields", "-E", "separator=,"] + [arg for f in _TSHARK_FLAGS for arg in ("-e", f"tcp.analysis.{f}")]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    counts = dict.fromkeys(_TSHARK_FLAGS, 0)
    for row in proc.stdout.splitlines():
        for flag, value in zip(_TSHARK_FLAGS, row.split(",")):
            counts[flag] += bool(value.strip())
    return counts


# --- the whole experiment -----------------------------------------------------------

def can_use_namespaces() -> str | None:
    """None if the experiment can use the emulated network, else why not (one line)."""
    from lab.netlab import privilege_problem

    return privilege_problem()


def run_compare(loss: int = 20, messages: int = 200, seed: int | None = None, interval: float = DEFAULT_INTERVAL,
                prefix: str | None = None, capture: bool = True, force_loopback: bool = False,
                pcap_dir: str | None = None) -> dict:
    """Run the experiment; return one dict with keys tcp, udp, loss, seed and more.

    With root: the emulated network (TCP and UDP halves, sniffer in the
    router).  Without root (or ``force_loopback``): only the UDP half,
    through a seeded lossy relay on loopback; ``tcp`` then says why it was
    skipped.  ``pcap_dir``: keep the router's captures there (tcp.pcap,
    udp.pcap) to open in Wireshark.
    """
    if not 0 <= loss <= 100:
        raise ValueError("loss must be between 0 and 100 %")
    if not 1 <= messages <= 100_000:
        raise ValueError("messages must be between 1 and 100000")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    problem = "forced" if force_loopback else can_use_namespaces()
    base = {"loss": loss, "seed": seed, "messages": messages, "interval_ms": interval * 1000,
            "expected_udp_delivery": round(expected_udp_delivery(loss), 4), "router_crossings_per_message": 2}
    if problem:
        return {**base, **_run_loopback(loss, messages, seed, interval, problem)}
    return {**base, **_run_netlab(loss, messages, seed, interval, prefix, capture, pcap_dir)}


def _run_loopback(loss, messages, seed, interval, problem) -> dict:
    import contextlib

    nothing = contextlib.nullcontext
    # The relay must know the server's port before run_udp_half starts the
    # server: pick a free port now and give it to both.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    relay = LossyUdpRelay(("127.0.0.1", port), loss, seed)
    try:
        def set_loss(on: bool) -> None:
            relay.enabled = on

        udp = run_udp_half(lambda: nothing(), lambda k: nothing(), "127.0.0.1", messages, interval, set_loss,
                           port=port, server_address=relay.address)
        udp["relay"] = {"decisions": relay.decisions, "dropped": relay.drops}
    finally:
        relay.close()
    return {"mode": "loopback",
            "note": f"no emulated network ({problem}); UDP ran through a lossy relay on 127.0.0.1, TCP was skipped",
            "tcp": {"skipped": "dropping TCP segments needs the emulated network (root): run with sudo"},
            "udp": udp}


def _run_netlab(loss, messages, seed, interval, prefix, capture, pcap_dir=None) -> dict:
    from lab.netlab import Netlab

    prefix = prefix or f"cmp{os.getpid() % 100000}"
    note = f"emulated network {prefix!r}: router drops {loss} % of forwarded packets"
    if capture and shutil.which("tcpdump") is None:
        capture = False
        note += "; no tcpdump, so no capture: retransmissions from TCP_INFO only (apt install tcpdump)"
    net = Netlab(prefix=prefix, clients=2, loss=0)
    with net, tempfile.TemporaryDirectory(prefix="chatlab-compare-") as tmp:
        server_ns = lambda: net.inside("server")  # noqa: E731
        client_ns = lambda k: net.inside(f"client{k}")  # noqa: E731

        router: dict = {}

        def set_loss(on: bool) -> None:
            if not on:
                router.update(net.loss_counters())  # read before the table (and its counters) is replaced
            net.set_loss(loss if on else 0)

        halves = {}
        wire = {}
        for proto, half in (("tcp", run_tcp_half), ("udp", run_udp_half)):
            sniffer = RouterCapture(net, Path(pcap_dir or tmp) / f"{proto}.pcap") if capture else None
            if sniffer:
                sniffer.start()
            try:
                halves[proto] = half(server_ns, client_ns, net.address("server"), messages, interval, set_loss)
                halves[proto]["router"] = {"forwarded": router.get("seen"), "dropped": router.get("dropped")}
            finally:
                if sniffer:
                    sniffer.stop()
            if sniffer:
                wire[proto] = sniffer.analyse()
        tcp, udp = halves["tcp"], halves["udp"]
        if capture:
            tcp["retransmissions"] = wire["tcp"]["retransmissions"]
            tcp["wire"] = wire["tcp"]
            udp["wire"] = {"packets": wire["udp"]["packets"], "udp_datagrams": wire["udp"]["udp_datagrams"]}
        else:
            tcp["retransmissions"] = tcp["retransmissions_tcp_info"]
    return {"mode": "netlab", "note": note,
            "tcp": tcp, "udp": udp}


# --- notebook helpers ---------------------------------------------------------------

def compare_results(loss: int = 20, messages: int = 200, seed: int | None = None, **kwargs) -> dict:
    """Run the experiment from a notebook and return the results as a dict (see run_compare)."""
    return run_compare(loss=loss, messages=messages, seed=seed, **kwargs)


def plot_compare(results: dict, axes=None):
    """Plot a compare result with matplotlib: counts side by side, then latency percentiles.

    Returns the matplotlib Figure.  ``axes`` may be a pair of Axes to draw on.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    else:
        fig = axes[0].figure
    protos = [p for p in ("tcp", "udp") if "sent" in results.get(p, {})]
    colors = {"tcp": "tab:blue", "udp": "tab:orange"}
    counts = ["delivered", "lost", "duplicated", "out_of_order"]
    width = 0.8 / max(1, len(protos))
    for k, proto in enumerate(protos):
        xs = [i + k * width for i in range(len(counts))]
        bars = axes[0].bar(xs, [results[proto][c] for c in counts], width, label=proto.upper(), color=colors[proto])
        axes[0].bar_label(bars, fontsize=8)
    axes[0].set_xticks([i + width * (len(protos) - 1) / 2 for i in range(len(counts))])
    axes[0].set_xticklabels([c.replace("_", " ") for c in counts])
    sent = results[protos[0]]["sent"] if protos else 0
    axes[0].set_title(f"{sent} messages, {results['loss']} % loss per router crossing")
    axes[0].legend()
    marks = ["p50", "p90", "p99", "max"]
    for k, proto in enumerate(protos):
        lat = results[proto]["latency_ms"]
        xs = [i + k * width for i in range(len(marks))]
        axes[1].bar(xs, [lat[m] or 0 for m in marks], width, label=proto.upper(), color=colors[proto])
    axes[1].set_xticks([i + width * (len(protos) - 1) / 2 for i in range(len(marks))])
    axes[1].set_xticklabels(marks)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("latency of delivered messages (ms, log scale)")
    axes[1].set_title("latency: TCP waits for retransmissions" if "tcp" in protos else "latency")
    axes[1].legend()
    fig.tight_layout()
    return fig

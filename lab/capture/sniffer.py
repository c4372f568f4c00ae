"""Live capture with scapy: each packet exactly once, nothing missed, drops counted.

How the known traps are handled (see docs/CAPTURE.md for the measurements):

* **Loopback duplicates.**  On ``lo`` every packet passes the capture tap twice:
  once leaving (``PACKET_OUTGOING``) and once arriving (``PACKET_HOST``).
  Like libpcap (and so tcpdump) we keep only the arriving copy.  The check
  is done in the kernel, by a BPF prologue that rejects outgoing packets on a
  loopback device before they are queued, and again in Python on the
  ``sll_pkttype`` recvfrom() returns.
* **Port filter.**  With libpcap present (scapy uses it to compile ``port P``)
  the filter runs in the kernel as BPF, so unrelated traffic is never copied
  to Python.  Without libpcap we filter in Python after a cheap header parse;
  it is correct but slower under heavy unrelated traffic.  ``filter_mode``
  says which one is active.
* **Start barrier.**  The AF_PACKET socket is opened and bound *before* the
  sniffing thread starts (from then on the kernel queues every packet), and
  start() returns only after scapy's ``started_callback`` ran.  No sleep.
* **Never render in prn.**  The scapy callback only appends the raw frame to
  a bounded queue; a full queue is counted (``drops.queue``), never blocks.
* **Dead thread.**  start() and stop() check the sniffer's ``exception``.
* **Network namespaces.**  ``netns=NAME`` opens the socket inside
  /run/netns/NAME from a short-lived thread that called setns(); the socket
  stays in that namespace after the thread ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from lab.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW, Segment, decode
from lab.capture.files import RawFrame, write_pcap
from lab.net.privileges import grant_capture_command

GRANT_HINT = f"run it with sudo, or allow this Python to capture once: {grant_capture_command()}"

SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ETH_P_ALL = 0x0003
CLONE_NEWNET = 0x40000000
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26


class CaptureError(RuntimeError):
    """Capture could not start or failed while running (one line, for the user)."""


class CapturePermissionError(CaptureError):
    """This process may not capture packets (needs root or CAP_NET_RAW)."""


@dataclass(frozen=True)
class Drops:
    """Packets lost by the capture, by where they were lost."""

    kernel: int = 0   # the socket's receive buffer was full (PACKET_STATISTICS tp_drops)
    queue: int = 0    # the bounded queue between capture and display was full

    @property
    def total(self) -> int:
        """Every packet the capture lost, wherever it was lost."""
        return self.kernel + self.queue


def capture_problem(iface: str = "lo") -> str | None:
    """None if this process can capture on `iface`, else a one-line reason with the fix."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        return f"packet capture is not permitted for this user: {GRANT_HINT}"
    except OSError as exc:
        return f"packet capture is not available here ({exc.strerror})"
    try:
        sock.bind((iface, ETH_P_ALL))
    except OSError as exc:
        return f"cannot capture on interface {iface!r}: {exc.strerror}"
    finally:
        sock.close()
    return None


def _setns(netns: str) -> None:
    """Move the calling thread into network namespace /run/netns/NETNS."""
    path = netns if netns.startswith("/") else f"/run/netns/{netns}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise CaptureError(f"no network namespace {netns!r} (see `ip netns list`)") from None
    try:
        if hasattr(os, "setns"):  # Python >= 3.12
            os.setns(fd, CLONE_NEWNET)
            return
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            if err == 1:
                raise CapturePermissionError(f"entering namespace {netns!r} is not permitted: {GRANT_HINT}")
            raise CaptureError(f"cannot enter network namespace {netns!r}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _run_in_netns(netns: str | None, fn):
    """Run fn() in a thread that entered `netns` (or directly when netns is None)."""
    if not netns:
        return fn()
    box: dict = {}

    def target() -> None:
        try:
            _setns(netns)
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _bpf_program(port: int | None, linktype: int, loopback: bool, use_libpcap: bool = True):
    """A kernel filter: drop loopback's outgoing copies, then libpcap's `port P` if any.

    Returns (instructions as (code, jt, jf, k) tuples, "bpf" | "python").
    The port part needs libpcap (through scapy); without it only the
    loopback part is installed and the port is checked in Python.
    """
    insns: list[tuple[int, int, int, int]] = []
    if loopback:
        # ld [SKF_AD_OFF + SKF_AD_PKTTYPE]; jeq #PACKET_OUTGOING -> ret #0
        insns += [(0x20, 0, 0, 0xFFFFF000 + 4), (0x15, 0, 1, PACKET_OUTGOING), (0x06, 0, 0, 0)]
    mode = "none"
    if port is not None and not use_libpcap:
        mode = "python"
    elif port is not None:
        try:
            from scapy.arch.common import compile_filter
            program = compile_filter(f"port {port}", linktype=linktype)
            insns += [(program.bf_insns[i].code, program.bf_insns[i].jt, program.bf_insns[i].jf,
                       program.bf_insns[i].k & 0xFFFFFFFF) for i in range(program.bf_len)]
            mode = "bpf"
        except Exception:  # libpcap missing (scapy: "libpcap is not available") or no compiler
            mode = "python"
    if not insns:
        return None, mode
    if mode != "bpf":
        insns.append((0x06, 0, 0, 0x40000))  # accept the rest: ret #262144
    return insns, mode


def _attach(sock: socket.socket, insns) -> None:
    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    array = (SockFilter * len(insns))(*[SockFilter(*i) for i in insns])
    prog = SockFprog(len(insns), array)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(memoryview(prog)))


def _open_socket(iface: str, port: int | None, rcvbuf: int, use_libpcap: bool = True):
    """Open, filter and bind an AF_PACKET socket on `iface` (in the current namespace)."""
    # Protocol 0: the socket receives nothing until the second bind() below,
    # so no packet can arrive before the filter is attached.  (A socket
    # opened with ETH_P_ALL starts queueing packets of every interface at
    # once: measured, it let unfiltered packets through.)
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise CapturePermissionError(f"packet capture is not permitted for this user: {GRANT_HINT}") from None
    try:
        sock.bind((iface, 0))
        hatype = sock.getsockname()[3]  # the hardware type: link layer, and is it a loopback?
    except OSError as exc:
        sock.close()
        raise CaptureError(f"cannot capture on interface {iface!r}: {exc.strerror} (see `ip link`)") from None
    loopback = hatype == ARPHRD_LOOPBACK
    linktype = LINKTYPE_ETHERNET if hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK) else LINKTYPE_RAW
    insns, mode = _bpf_program(port, linktype, loopback, use_libpcap)
    if insns:
        _attach(sock, insns)
    for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, rcvbuf)
            break
        except OSError:
            continue
    sock.bind((iface, ETH_P_ALL))
    return sock, linktype, loopback, mode


def _make_supersocket(sock: socket.socket, linktype: int, loopback: bool, port: int | None, python_filter: bool):
    """Wrap the socket for scapy's sniff loop: raw frames, loopback deduplicated."""
    from scapy.arch.linux import get_last_packet_timestamp
    from scapy.config import conf
    from scapy.supersocket import SuperSocket

    class PacketSocket(SuperSocket):
        desc = "AF_PACKET listen socket; keeps each loopback packet once (the arriving copy)"

        def __init__(self) -> None:
            self.ins = sock
            self.outs = None
            self.iface = None
            self.linktype = linktype
            self.filtered = 0
            try:
                sock.setsockopt(SOL_PACKET, 8, 1)  # PACKET_AUXDATA: VLAN tags
                sock.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
                self.auxdata_available = True
            except OSError:
                self.auxdata_available = False

        def recv_raw(self, x: int = 65535):
            data, sa_ll, ts = self._recv_raw(self.ins, x)
            if loopback and sa_ll[2] == PACKET_OUTGOING:
                return None, None, None
            if python_filter:
                seg = decode(0, 0, linktype, data)
                if seg is None or port not in (seg.sport, seg.dport):
                    self.filtered += 1
                    return None, None, None
            if ts is None:
                ts = get_last_packet_timestamp(self.ins)
            return conf.raw_layer, data, ts

        def send(self, x):  # a listening socket
            raise OSError("this capture socket cannot send")

    return PacketSocket()


class _Captured:
    """What prn receives when the socket is drained after stop (same shape as scapy's Raw)."""

    __slots__ = ("load", "time")

    def __init__(self, load: bytes, time: float):
        self.load, self.time = load, time


class Sniffer:
    """Capture packets on one interface (optionally in a network namespace).

    ``Sniffer(iface="lo", port=5050).start()`` returns once capture is really
    running; make traffic; ``stop()``; then read ``frames`` (raw, for pcap),
    ``segments`` (decoded TCP/UDP) and ``drops``.  For a live view call
    ``poll()`` from another thread: it returns the new segments.
    """

    def __init__(self, iface: str = "lo", port: int | None = None, netns: str | None = None,
                 queue_size: int = 50_000, rcvbuf: int = 8 << 20, keep: bool = True, use_libpcap: bool = True):
        self.iface, self.port, self.netns = iface, port, netns
        self.use_libpcap = use_libpcap  # False: filter the port in Python even if libpcap is there
        self.keep = keep
        self.frames: list[RawFrame] = []
        self.segments: list[Segment] = []
        self.filter_mode = "none"
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._queue_drops = 0
        self._kernel_drops = 0
        self._kernel_packets = 0
        self._rcvbuf = rcvbuf
        self._sock = None
        self._sniffer = None
        self._started = threading.Event()
        self._numbered = 0
        self._backlog: list[Segment] = []  # collected by stop(), not yet returned by poll()
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------
    def start(self, timeout: float = 5.0) -> "Sniffer":
        """Open the capture and return once it is running (raises CaptureError)."""
        raw, linktype, loopback, mode = _run_in_netns(
            self.netns, lambda: _open_socket(self.iface, self.port, self._rcvbuf, self.use_libpcap))
        self.filter_mode = mode
        self._linktype = linktype
        try:
            from scapy.sendrecv import AsyncSniffer
            self._sock = _make_supersocket(raw, linktype, loopback, self.port, mode == "python")
            self._sniffer = AsyncSniffer(opened_socket=self._sock, prn=self._on_packet, store=False,
                                         started_callback=self._started.set)
            self._sniffer.start()
        except Exception as exc:
            raw.close()
            raise CaptureError(f"capture could not start: {exc}") from None
        if not self._started.wait(timeout):
            self._check_thread()
            raise CaptureError("capture did not start within %.0f s" % timeout)
        self._check_thread()
        return self

    def _check_thread(self) -> None:
        exc = getattr(self._sniffer, "exception", None)
        if exc is not None:
            raise CaptureError(f"the capture thread failed: {exc}")

    def _on_packet(self, pkt) -> None:
        # scapy's prn: runs in the capture thread, so it only queues.
        frame = RawFrame(int(round(float(pkt.time) * 1e9)), self._linktype, bytes(pkt.load))
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self._queue_drops += 1

    def _read_stats(self) -> None:
        if self._sock is None or self._sock.ins.fileno() < 0:
            return
        try:
            packets, drops = struct.unpack("II", self._sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except OSError:
            return
        # Reading PACKET_STATISTICS resets the kernel's counters: accumulate.
        with self._lock:
            self._kernel_packets += packets
            self._kernel_drops += drops

    @property
    def running(self) -> bool:
        """True while the capture thread is alive (and did not fail)."""
        return bool(self._sniffer is not None and self._sniffer.running and self._sniffer.exception is None)

    @property
    def drops(self) -> Drops:
        """Packets lost so far: in the kernel (socket buffer full) and in the display queue."""
        self._read_stats()
        return Drops(kernel=self._kernel_drops, queue=self._queue_drops)

    def poll(self, max_items: int = 10_000) -> list[Segment]:
        """The segments captured since the last poll (for live views); also works after stop()."""
        new: list[Segment] = self._backlog
        self._backlog = []
        new.extend(self._take(max_items))
        return new

    def _take(self, max_items: int) -> list[Segment]:
        new: list[Segment] = []
        for _ in range(max_items):
            try:
                frame = self._queue.get_nowait()
            except queue.Empty:
                break
            self._numbered += 1
            if self.keep:
                self.frames.append(frame)
            seg = decode(self._numbered, frame.ts_ns, frame.linktype, frame.data)
            if seg is not None:
                new.append(seg)
        if self.keep:
            self.segments.extend(new)
        return new

    def stop(self) -> Drops:
        """Stop capturing, collect what is queued, close the socket; returns the drops."""
        error = None
        if self._sniffer is not None:
            try:
                if self._sniffer.running:
                    self._sniffer.stop(join=True)
            except Exception as exc:  # scapy re-raises the thread's exception
                error = exc
            error = error or self._sniffer.exception
        self._drain_socket()
        self._read_stats()
        drops = self.drops
        if self._sock is not None:
            self._sock.close()
        while not self._queue.empty():
            self._backlog.extend(self._take(10_000))
        if error is not None:
            raise CaptureError(f"the capture thread failed: {error}")
        return drops

    def _drain_socket(self, budget: float = 2.0) -> None:
        """Read what the kernel still holds for us after the sniff loop ended (bounded in time).

        When the capture fell behind, packets wait in the socket buffer; stopping
        without reading them would lose them without counting them anywhere.
        """
        if self._sock is None or self._sock.closed:
            return
        import time

        self._sock.ins.setblocking(False)
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            try:
                cls, data, ts = self._sock.recv_raw()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if data and cls is not None:
                self._on_packet(_Captured(data, ts))

    def write(self, path: str | Path) -> Path:
        """Write the frames captured so far as a pcap (tcpdump/tshark/Wireshark open it)."""
        write_pcap(path, self.frames)
        return Path(path)

    def __enter__(self) -> "Sniffer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""The kit's delay stage: a process in the router that holds, drops and reorders packets (TUN).

Kernels without the netem qdisc (this one) cannot delay packets by
themselves.  So the router sends every packet it forwards through a TUN
device, ``dly0``, and this process sits on the other side of it::

    client1 ──> to-client1 ──(policy route: iif to-client1 -> table 100 -> dev dly0)──┐
                                                                                       │
                    this process: read(dly0), hold delay_ms, maybe drop/reorder/duplicate
                                                                                       │
    server  <── to-server <──(main table: 10.77.0.0/24 dev to-server)── write(dly0) <──┘

A packet written to a TUN device is received by the kernel as if it had
arrived on ``dly0``; the policy rule matches only packets that came in on a
host link, so the written-back packet is routed by the main table to its real
destination (and the rate limit, a ``tbf`` qdisc on that link, queues it).
Each packet crosses the router's forwarding twice, so its TTL drops by 2.
What is decided for each packet is ``lab.net.delay_line`` (sans-I/O,
seeded); this module only moves bytes and keeps time.

Started by ``lab.net.netlab`` as ``ip netns exec ROUTER python -m
lab.net.delay_stage SETTINGS_JSON``; it prints one line, ``ready``, once the
TUN device and its control socket are open.  The control socket is an
*abstract* Unix socket, which (like everything else of the lab) lives in the
router's network namespace and disappears with it; it answers one JSON
request per connection: ``{"op": "status"}``, ``{"op": "set", "settings":
{...}}``, ``{"op": "quit"}``.

Measured with ``chatlab netlab measure`` on the 2-core lab machine, idle and
beside two CPU-bound loops (docs/NETLAB.md has the table): the round trip
is the configured delay to within about 0.5 ms at the median (a packet is
never sent early; late by up to a few ms, rarely 30, when the machine is
busy); the stage costs 24-28 ms of CPU per 1,000 packets when packets
stream (about 15,000 packets/s on one core, the ceiling with no rate
limit: 83-98 Mbit/s), up to about 100 ms per 1,000 when each packet is
timed on its own (2 Mbit/s).  Pure Python is enough for the 1-20 Mbit/s
the lessons use, so the stage is not written in C.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time

from lab.net.delay_line import DelayLine, SettingsError, StageSettings

TUN_NAME = "dly0"
CONTROL_ADDRESS = "\0chatlab-delay-stage"  # abstract: one per network namespace
READY = "ready"

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_READ_BATCH = 256  # packets read per wake-up at most, so writing never waits long
_MAX_REQUEST = 64 * 1024


def open_tun(name: str = TUN_NAME) -> int:
    """Attach to the TUN device ``name`` (made by ``ip tuntap add``); a non-blocking fd of raw IP packets."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived."""


class Stage:
    """The loop: read packets, hold them, write them back when due; answer the control socket."""

    def __init__(self, settings: StageSettings, tun_fd: int, control: socket.socket):
        self.line = DelayLine(settings)
        self.tun = tun_fd
        self.control = control
        self.clients: dict[socket.socket, bytearray] = {}
        self.started = time.time()
        self.running = True
        self.write_errors = 0

    def run(self) -> None:
        """The loop, until stopped: packets from the TUN device into the delay line, each written back when due.

        Between packets it answers the control socket's requests.  ``select``
        waits at most until the next packet is due (at most 1 s), so a packet
        leaves within the scheduler's latency of its time.
        """
        while self.running:
            due = self.line.next_due()
            timeout = 1.0 if due is None else min(1.0, max(0.0, due - time.monotonic()))
            # select() takes a timeout in microseconds (epoll only in milliseconds).
            readable, _, _ = select.select([self.tun, self.control, *self.clients], [], [], timeout)
            now = time.monotonic()
            if self.tun in readable:
                self._read_packets(now)
            self._write_due(time.monotonic())
            for sock in readable:
                if sock is self.control:
                    self._accept()
                elif isinstance(sock, socket.socket):
                    self._serve(sock)

    def _read_packets(self, now: float) -> None:
        for _ in range(_READ_BATCH):
            try:
                packet = os.read(self.tun, 65535)
            except BlockingIOError:
                return
            self.line.arrive(packet, now)

    def _write_due(self, now: float) -> None:
        for packet in self.line.pop_due(now):
            try:
                os.write(self.tun, packet)
            except OSError:
                self.write_errors += 1

    # -- control --------------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            conn, _ = self.control.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.clients[conn] = bytearray()

    def _serve(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buffer = self.clients[conn]
        buffer += data
        if data and b"\n" not in buffer and len(buffer) < _MAX_REQUEST:
            return
        del self.clients[conn]
        try:
            if b"\n" in buffer:
                reply = self.handle(buffer.split(b"\n", 1)[0])
                conn.setblocking(True)
                conn.settimeout(1.0)
                conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def handle(self, request: bytes) -> dict:
        """One control request (a JSON object) -> the reply."""
        try:
            message = json.loads(request)
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            return {"error": "a request is one JSON object with an \"op\""}
        if op == "status":
            return self.status()
        if op == "set":
            try:
                self.line.reconfigure(self.line.settings.changed(**message.get("settings", {})))
            except (SettingsError, TypeError) as exc:
                return {"error": str(exc)}
            return self.status()
        if op == "quit":
            self.running = False
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}

    def status(self) -> dict:
        """The stage's state as the control socket reports it: settings, counters, packets held, CPU seconds used."""
        times = os.times()
        return {"stage": "tun", "pid": os.getpid(), "tun": TUN_NAME, "started": self.started,
                "settings": self.line.settings.to_dict(), "counters": self.line.counters.to_dict(),
                "held": self.line.held, "write_errors": self.write_errors,
                "cpu_seconds": round(times.user + times.system, 4)}


def request(op: str, timeout: float = 3.0, **fields) -> dict:
    """Send one control request to the stage of *this thread's* network namespace; its reply.

    Raises OSError when no stage is listening (ConnectionRefusedError).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(CONTROL_ADDRESS)
        sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
        reply = bytearray()
        while b"\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply.decode() or "{}")


def main(argv: list[str]) -> int:
    """Run a delay stage in this network namespace (``python -m lab.net.delay_stage SETTINGS_JSON``).

    Attaches to the TUN device, listens on the control socket, prints READY
    for lab.net.netlab, and runs until SIGTERM or SIGINT.  Exit status 0 when
    stopped, 1 when the device or the control socket is unavailable, 2 for bad
    settings.
    """
    if len(argv) != 1:
        print("usage: python -m lab.net.delay_stage SETTINGS_JSON (started by lab.net.netlab)", file=sys.stderr)
        return 2
    try:
        settings = StageSettings(**json.loads(argv[0]))
    except (ValueError, TypeError) as exc:
        print(f"delay stage: bad settings: {exc}", file=sys.stderr)
        return 2
    try:
        tun = open_tun()
    except OSError as exc:
        print(f"delay stage: cannot attach to the TUN device {TUN_NAME}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        control.bind(CONTROL_ADDRESS)
    except OSError:
        print("delay stage: another delay stage is already running in this namespace", file=sys.stderr)
        return 1
    control.listen(8)
    control.setblocking(False)
    stage = Stage(settings, tun, control)

    def stop(signum, frame):
        raise _Stopped  # out of select() at once (a flag would wait for its timeout)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # One write of the whole line: the parent closes the pipe as soon as it has it.
    os.write(1, READY.encode() + b"\n")
    # Nobody reads our output any more: keep later writes from failing on a closed pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        stage.run()
    except _Stopped:
        pass
    finally:
        os.close(tun)
        control.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The sniffer in the router (I/O): tcpdump to a pcap, then our count and Wireshark's."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab.experiments.compare.accounting import PORT, count_retransmissions


class RouterCapture:
    """tcpdump in the router namespace, inbound packets only, to a pcap file.

    ``-i any -Q in`` records each packet once, as it *enters* the router,
    before the forward hook where the loss rule drops it: so the capture
    holds every transmission, including the ones the router then drops
    (DESIGN.md: a packet dropped before the capture tap is never seen).

    ``--immediate-mode``: without it libpcap hands packets over in blocks,
    one block a second, and the packets of the last block are lost when
    tcpdump stops, without being counted as dropped (measured: 3 datagrams
    sent in the last 0.1 s before SIGINT, "0 packets captured, 6 received
    by filter, 0 dropped").  Immediate mode uses one ring slot of snaplen
    bytes per packet, and the default 2 MiB ring then held 8 packets: a
    burst of 32 lost 58 of 96 ("dropped by kernel").  ``-s 65600`` (the
    largest IP packet, a GSO burst on the veth, plus the cooked header:
    every packet whole) with ``-B 16384`` (KiB: 16 MiB, about 250 slots);
    with the default ring a busy machine lost 5 of 380 packets.  (With
    32 MiB, about 500 slots, bursts of 64 datagrams were measured whole:
    640 of 640.)  ``-Z root``: tcpdump would otherwise drop to the
    "tcpdump" user and may then be unable to write the file.  What tcpdump
    says it dropped is in ``stats``.
    """

    def __init__(self, net, path: Path, port: int = PORT):
        self.net, self.path, self.port = net, path, port
        self.proc: subprocess.Popen | None = None
        self.stats: dict = {}  # tcpdump's own count at the end: captured, received by filter, dropped by kernel
        self.kernel_drops: int | None = None  # what tcpdump says it missed, once stopped

    def start(self) -> None:
        """Start tcpdump in the router and return once it captures (the options: see the class docstring)."""
        self.proc = self.net.popen("router", ["tcpdump", "-i", "any", "-Q", "in", "-n", "-U", "--immediate-mode",
                                              "-s", "65600", "-B", "16384", "-Z", "root",
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
        """Stop tcpdump once it has written the whole run, and keep its own count of what it dropped.

        A barrier datagram goes through the router first, so no packet of the run
        is still unread at SIGINT; ``stats`` and ``kernel_drops`` are tcpdump's last
        words.  Safe to call twice.
        """
        if self.proc and self.proc.poll() is None:
            self._barrier()
            self.proc.send_signal(signal.SIGINT)  # tcpdump flushes the file on SIGINT
            try:
                _, said = self.proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return
            # tcpdump's last words: "N packets captured ... N packets dropped by kernel".
            self.stats = tcpdump_stats(said.decode(errors="replace"))
            self.kernel_drops = self.stats.get("dropped_by_kernel")

    def _barrier(self, timeout: float = 5.0) -> None:
        """Send one marker datagram through the router and wait until tcpdump has written it.

        tcpdump writes packets in the order it reads them, so once the marker
        is in the file, every packet of the run before it is too.  Without
        this, SIGINT could stop a descheduled tcpdump before it had read the
        last packets of the run (its FINs): 2 runs of 4 on a busy machine.
        """
        import socket

        self._marker = b"chatlab-capture-barrier " + os.urandom(8).hex().encode()
        with self.net.inside("client1"):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.sendto(self._marker, (self.net.address("server"), self.port))
        finally:
            probe.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._marker in self.path.read_bytes():
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.02)

    def read(self) -> list:
        """The captured packets (lab.capture.decode.Segment), in order."""
        from lab.capture.files import read_pcap

        marker = getattr(self, "_marker", None)  # the barrier's datagram is ours, not the run's
        return [s for s in read_pcap(self.path) if not (marker and s.proto == "udp" and s.payload == marker)]

    def analyse(self) -> dict:
        """What the capture shows: retransmissions by our count and by tshark's, packets, UDP datagrams,
        and what tcpdump said it missed."""
        segments = self.read()
        found = count_retransmissions(segments)
        found["packets"] = len(segments)
        found["udp_datagrams"] = sum(1 for s in segments if s.proto == "udp")
        found["tcpdump"] = self.stats
        found["wireshark"] = tshark_analysis(self.path)
        found["capture_dropped"] = self.kernel_drops
        return found


def tcpdump_stats(text: str) -> dict:
    """tcpdump's closing count ("12 packets captured", "... dropped by kernel") as a dict of ints."""
    found = {}
    for key, label in (("captured", "packets captured"), ("received_by_filter", "packets received by filter"),
                       ("dropped_by_kernel", "packets dropped by kernel")):
        match = re.search(rf"^(\d+) {label}$", text, re.MULTILINE)
        if match:
            found[key] = int(match.group(1))
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

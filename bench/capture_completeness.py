"""Capture completeness of lab.capture.Sniffer against tcpdump at rising packet rates on lo.

Run as root:  .venv/bin/python bench/capture_completeness.py [--seconds 2] [--rates 1000,5000,...]

For each rate, one UDP sender on 127.0.0.1 sends N datagrams paced at that
rate to a port nobody reads (each datagram is one packet on lo); tcpdump and
our sniffer capture the same port at the same time.  The table shows how many
each saw, out of how many were sent, and the drops our sniffer reported.
Bounded: at most a few seconds per rate.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.capture import Sniffer, read_frames  # noqa: E402


def send_paced(port: int, rate: int, seconds: float) -> int:
    total = int(rate * seconds)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.perf_counter()
    payload = b"x" * 64
    sent = 0
    for i in range(total):
        target = start + i / rate
        while True:
            now = time.perf_counter()
            if now >= target:
                break
            if target - now > 0.002:
                time.sleep(target - now - 0.001)
        try:
            sock.sendto(payload, ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass
        if now - start > seconds * 3:  # the sender itself cannot keep up: stop, bounded
            break
    sock.close()
    return sent


def one_rate(rate: int, seconds: float) -> dict:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "ref.pcap"
        tcpdump = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-w", str(pcap),
                                    f"udp port {port}"], stderr=subprocess.PIPE)
        for _ in range(5):
            if b"listening on" in tcpdump.stderr.readline():
                break
        sniffer = Sniffer(iface="lo", port=port).start()
        done = threading.Event()

        def consume() -> None:  # a consumer like the live table: drain the queue 20 times a second
            while not done.wait(0.05):
                sniffer.poll()

        consumer = threading.Thread(target=consume)
        consumer.start()
        sent = send_paced(port, rate, seconds)
        time.sleep(0.5)
        done.set()
        consumer.join()
        drops = sniffer.stop()
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(10)
        ref = len(read_frames(pcap))
    ours = len([s for s in sniffer.segments if s.proto == "udp"])
    return {"rate": rate, "sent": sent, "tcpdump": ref, "sniffer": ours, "kernel_drops": drops.kernel,
            "queue_drops": drops.queue}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rates", default="1000,5000,10000,20000,40000")
    args = parser.parse_args()
    if os.geteuid() != 0:
        from lab.capture.sniffer import capture_problem
        problem = capture_problem()
        if problem:
            print(problem)
            sys.exit(2)
    print(f"{'rate/s':>8} {'sent':>7} {'tcpdump':>8} {'sniffer':>8} {'sniffer %':>9} {'kernel drops':>12} {'queue drops':>11}")
    for rate in (int(r) for r in args.rates.split(",")):
        r = one_rate(rate, args.seconds)
        pct = 100.0 * r["sniffer"] / r["sent"] if r["sent"] else 0.0
        print(f"{r['rate']:>8} {r['sent']:>7} {r['tcpdump']:>8} {r['sniffer']:>8} {pct:>8.1f}% "
              f"{r['kernel_drops']:>12} {r['queue_drops']:>11}", flush=True)


if __name__ == "__main__":
    main()

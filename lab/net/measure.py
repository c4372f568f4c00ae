"""Measure a lab that is up: the round trip (ping and TCP), the throughput, the stage's CPU.

``chatlab netlab measure`` prints these next to what was configured, so the
numbers in docs/NETLAB.md can be checked on any machine:

* **ping**: ICMP echo requests from client1 to the server (a raw socket,
  so no ``ping`` program is needed); the server's kernel answers them;
* **TCP**: one bulk transfer client1 -> server of ``nbytes``; the time the
  handshake took (connect() returns when the SYN-ACK arrives: one round
  trip), the receiver's goodput, and the sender's smoothed RTT from
  TCP_INFO at the end (it includes the time segments waited in the
  router's queue);
* **stage CPU**: CPU seconds the kit's delay stage used during the run, per
  1,000 packets it handled (read from the stage itself).
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import threading
import time

from lab.net.tcpinfo import read_tcp_info

_ICMP_ECHO, _ICMP_REPLY = 8, 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def icmp_echo_request(ident: int, seq: int, payload: bytes = b"chatlab") -> bytes:
    """An ICMP echo request (RFC 792) with a correct checksum."""
    header = struct.pack("!BBHHH", _ICMP_ECHO, 0, 0, ident, seq)
    return struct.pack("!BBHHH", _ICMP_ECHO, 0, _checksum(header + payload), ident, seq) + payload


def ping(net, host: str, target: str, count: int = 10, interval: float = 0.05, timeout: float = 2.0) -> list[float]:
    """Round-trip times (ms) of ``count`` ICMP echoes from ``host`` to ``target``'s address; lost ones left out."""
    with net.inside(host):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    rtts = []
    try:
        for seq in range(count):
            sent = time.perf_counter()
            sock.sendto(icmp_echo_request(ident, seq), (net.address(target), 0))
            deadline = sent + timeout
            while time.perf_counter() < deadline:
                sock.settimeout(max(0.001, deadline - time.perf_counter()))
                try:
                    packet = sock.recv(2048)
                except socket.timeout:
                    break
                ihl = (packet[0] & 0x0F) * 4
                kind, _, _, r_ident, r_seq = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
                if kind == _ICMP_REPLY and r_ident == ident and r_seq == seq:
                    rtts.append((time.perf_counter() - sent) * 1000)
                    break
            time.sleep(interval)
    finally:
        sock.close()
    return rtts


def bulk_tcp(net, sender: str, receiver: str, nbytes: int, port: int = 5099, timeout: float = 60.0) -> dict:
    """Send ``nbytes`` over one TCP connection; handshake time, goodput and the sender's TCP_INFO.

    ``timeout`` bounds the whole transfer (OSError/TimeoutError past it).
    """
    with net.inside(receiver):
        listener = socket.create_server((net.address(receiver), port))
    listener.settimeout(10)
    got = {"bytes": 0, "first": None, "last": None}

    def receive() -> None:
        conn, _ = listener.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                now = time.perf_counter()
                got["first"] = got["first"] or now
                got["last"] = now
                got["bytes"] += len(data)

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        with net.inside(sender):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with client:
            client.settimeout(timeout)
            began = time.perf_counter()
            client.connect((net.address(receiver), port))
            handshake = (time.perf_counter() - began) * 1000
            client.sendall(b"x" * nbytes)
            client.shutdown(socket.SHUT_WR)
            thread.join(timeout)
            info = read_tcp_info(client)
    finally:
        listener.close()
    elapsed = (got["last"] or 0) - (got["first"] or 0)
    return {"bytes": got["bytes"], "handshake_ms": round(handshake, 2), "seconds": round(elapsed, 3),
            "goodput_bits": int(got["bytes"] * 8 / elapsed) if elapsed > 0 else None,
            "srtt_ms": info.rtt_ms if info else None, "retransmissions": info.total_retrans if info else None}


def measure(net, nbytes: int = 2_000_000, pings: int = 20) -> dict:
    """Ping, one bulk transfer and the stage's CPU, on a lab that is up; one dict (``--json``)."""
    before = net.stage_request("status")
    rtts = ping(net, "client1", "server", count=pings)
    # bounded: four times what the rate needs (a lossy link is slower), at least 30 s
    rate = net.settings.rate_bits
    tcp = bulk_tcp(net, "client1", "server", nbytes, timeout=max(30.0, 4 * nbytes * 8 / rate) if rate else 30.0)
    after = net.stage_request("status")
    settings = net.settings
    result = {"configured": {"delay_ms": settings.delay_ms, "round_trip_added_ms": 2 * settings.delay_ms,
                             "rate_bits": settings.rate_bits, "queue_bytes": settings.queue, "loss": settings.loss,
                             "stage": net.active_stage},
              "ping_ms": {"sent": pings, "answered": len(rtts),
                          **({"min": round(min(rtts), 2), "median": round(statistics.median(rtts), 2),
                              "max": round(max(rtts), 2)} if rtts else {})},
              "tcp": tcp, "stage_cpu": None}
    if before and after:
        packets = after["counters"]["received"] - before["counters"]["received"]
        cpu = after["cpu_seconds"] - before["cpu_seconds"]
        result["stage_cpu"] = {"packets": packets, "cpu_seconds": round(cpu, 3),
                               "ms_per_1000_packets": round(cpu * 1000 / packets * 1000, 1) if packets else None}
    return result

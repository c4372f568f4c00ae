"""lab.net.tcpinfo: the layout of struct tcp_info, the values on a real connection, the sampler."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.net import tcpinfo
from lab.net.tcpinfo import LAYOUT, OFFSETS, TcpInfoSampler, parse_tcp_info, read_tcp_info
from tests.helpers.waiting import wait_for

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux only")

# Offsets of struct tcp_info in <linux/tcp.h>, written out by hand from a recent kernel header
# (older headers, like Debian 12's, end at snd_wnd; the running kernel may fill in more).
KERNEL_OFFSETS = {
    "state": 0, "ca_state": 1, "retransmits": 2, "probes": 3, "backoff": 4, "options": 5, "wscale": 6,
    "app_limited": 7, "rto": 8, "ato": 12, "snd_mss": 16, "rcv_mss": 20, "unacked": 24, "sacked": 28,
    "lost": 32, "retrans": 36, "fackets": 40, "last_data_sent": 44, "last_ack_sent": 48,
    "last_data_recv": 52, "last_ack_recv": 56, "pmtu": 60, "rcv_ssthresh": 64, "rtt": 68, "rttvar": 72,
    "snd_ssthresh": 76, "snd_cwnd": 80, "advmss": 84, "reordering": 88, "rcv_rtt": 92, "rcv_space": 96,
    "total_retrans": 100, "pacing_rate": 104, "max_pacing_rate": 112, "bytes_acked": 120,
    "bytes_received": 128, "segs_out": 136, "segs_in": 140, "notsent_bytes": 144, "min_rtt": 148,
    "data_segs_in": 152, "data_segs_out": 156, "delivery_rate": 160, "busy_time": 168, "rwnd_limited": 176,
    "sndbuf_limited": 184, "delivered": 192, "delivered_ce": 196, "bytes_sent": 200, "bytes_retrans": 208,
    "dsack_dups": 216, "reord_seen": 220, "rcv_ooopack": 224, "snd_wnd": 228, "rcv_wnd": 232,
}
SIZES = {"B": 1, "I": 4, "Q": 8}


def test_layout_matches_the_kernel_header_offsets():
    assert [name for name, _ in LAYOUT] == list(KERNEL_OFFSETS)
    for name, (offset, packed) in OFFSETS.items():
        assert offset == KERNEL_OFFSETS[name], name
    for name, fmt in LAYOUT:
        assert OFFSETS[name][1].size == SIZES[fmt], name
    assert tcpinfo.SIZE == 236 and tcpinfo.MINIMUM == 104


@pytest.mark.skipif(shutil.which("cc") is None or not Path("/usr/include/linux/tcp.h").exists(),
                    reason="needs a C compiler and the kernel headers to check offsetof()")
def test_layout_matches_offsetof_in_the_installed_header(tmp_path: Path):
    header = Path("/usr/include/linux/tcp.h").read_text()
    names = [n for n, _ in LAYOUT if n not in ("wscale", "app_limited") and f"tcpi_{n};" in header.replace("\t", "")
             .replace(" ", "")]
    assert len(names) > 40
    prints = "\n".join(f'printf("{n} %zu %zu\\n", offsetof(struct tcp_info, tcpi_{n}), '
                       f"sizeof(((struct tcp_info *)0)->tcpi_{n}));" for n in names)
    source = tmp_path / "offsets.c"
    source.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <linux/tcp.h>\n"
                      f"int main(void) {{\n{prints}\nreturn 0; }}\n")
    subprocess.run(["cc", "-o", str(tmp_path / "offsets"), str(source)], check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "offsets")], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, offset, size = line.split()
        assert (OFFSETS[name][0], OFFSETS[name][1].size) == (int(offset), int(size)), name


def test_fields_past_what_the_kernel_returns_are_none():
    raw = bytearray(tcpinfo.MINIMUM)
    raw[0] = 1  # ESTABLISHED
    info = parse_tcp_info(bytes(raw))
    assert info.state == "ESTABLISHED" and info.bytes_acked is None and info.snd_wnd is None
    assert parse_tcp_info(bytes(50)) is None


def _pair():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


@linux_only
def test_values_on_a_real_connection_are_where_the_layout_says():
    client, server = _pair()
    try:
        payload = b"x" * 10_000
        client.sendall(payload)
        got = 0
        while got < len(payload):
            got += len(server.recv(65536))
        # bytes_acked counts the SYN too (snd_una moved from the ISN): N + 1 once all is acknowledged.
        info = wait_for(lambda: (i := read_tcp_info(client)) and i.bytes_acked == len(payload) + 1 and i,
                     "the client's data to be acknowledged")
        assert info.state == "ESTABLISHED" and info.ca_state == "Open"
        assert info.bytes_sent == len(payload) and info.bytes_retrans == 0
        assert info.snd_mss == client.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        assert info.data_segs_out >= 1 and info.segs_out >= info.data_segs_out
        assert info.unacked == 0 and info.total_retrans == 0 and info.ssthresh is None
        assert 0 < info.rtt_ms < 1000 and info.rto_ms >= 200
        served = read_tcp_info(server)
        assert served.bytes_received == len(payload)  # data bytes only: the SYN is no byte of data
        assert served.data_segs_in == info.data_segs_out
        assert info.snd_wnd is None or info.snd_wnd > 0
    finally:
        client.close()
        server.close()


@linux_only
def test_sampler_samples_on_the_capture_clock_and_stops_when_the_socket_closes():
    client, server = _pair()
    try:
        before = time.time_ns()
        sampler = TcpInfoSampler(client, interval=0.002).start()
        assert sampler.samples, "start() returns after the first sample"
        client.sendall(b"y" * 200_000)
        got = 0
        while got < 200_000:
            got += len(server.recv(65536))
        wait_for(lambda: sampler.samples[-1].info.bytes_acked == 200_001, "a sample with everything acknowledged")
        client.close()
        wait_for(lambda: not sampler._thread.is_alive(), "the sampler to notice the closed socket")
        samples = sampler.stop()
    finally:
        server.close()
    times = [s.ts_ns for s in samples]
    assert times == sorted(times) and before <= times[0] <= time.time_ns()
    assert samples[0].info.bytes_acked <= samples[-1].info.bytes_acked == 200_001
    assert len(samples) >= 2

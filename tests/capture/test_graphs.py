"""The graphs draw the capture's own numbers: read back from the figures and compared with tshark's fields."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lab.capture import annotate_with_streams, read_pcap  # noqa: E402
from lab.capture import graphs  # noqa: E402
from lab.net.tcpinfo import TcpInfo, TcpInfoSample  # noqa: E402
from tests.capture import scenarios as sc  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pcaps"
RESENT = {"retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order"}


def _tshark(name: str):
    """tshark's rows (frame number -> row) and the capture's times in s since the first packet."""
    rows = {int(r["frame.number"]): r for r in sc.read_expected(FIXTURES / f"{name}.tshark.tsv")}
    segments = read_pcap(FIXTURES / f"{name}.pcap")
    t0 = segments[0].ts_ns
    times = {s.number: (s.ts_ns - t0) / 1e9 for s in segments}
    return rows, times, segments


def _flat(segments) -> list[float]:
    """[((x0, y0), (x1, y1)), ...] as one flat list, for pytest.approx."""
    return [v for segment in segments for point in segment for v in point]


def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


@pytest.mark.parametrize("name", ["lossy", "router_bulk", "router_bulk_nots", "internet_bulk"])
def test_tcptrace_plots_every_data_segment_ack_window_and_sack_of_the_capture(name):
    rows, times, segments = _tshark(name)
    sender_port = segments[0].sport   # the client sends the data in these fixtures
    anns, streams = annotate_with_streams(segments)
    fig = graphs.tcptrace(anns, graphs.busiest(streams))
    ax = fig.axes[0]
    bars = {gid: [tuple(map(tuple, seg)) for c in _by_gid(ax, gid) for seg in c.get_segments()]
            for gid in ("data", "retransmission", "sack")}
    data = [r for r in rows.values() if r["tcp.srcport"] == str(sender_port) and int(r["tcp.len"])]
    expect = {"data": [], "retransmission": []}
    for r in data:
        n, seq = int(r["frame.number"]), int(r["tcp.seq"])
        kind = "retransmission" if RESENT & set(r["analysis"]) else "data"
        expect[kind].append(((times[n], seq), (times[n], seq + int(r["tcp.len"]))))
    assert _flat(bars["data"]) == pytest.approx(_flat(expect["data"])) and len(expect["data"]) > 50
    assert _flat(bars["retransmission"]) == pytest.approx(_flat(expect["retransmission"]))
    assert expect["retransmission"]
    acks = [r for r in rows.values() if r["tcp.srcport"] != str(sender_port) and int(r["tcp.flags"], 16) & 0x10]
    (ack_line,) = _by_gid(ax, "ack")
    assert list(ack_line.get_ydata()) == [int(r["tcp.ack"]) for r in acks]
    assert list(ack_line.get_xdata()) == pytest.approx([times[int(r["frame.number"])] for r in acks])
    (window_line,) = _by_gid(ax, "window")
    assert list(window_line.get_ydata()) == [int(r["tcp.ack"]) + int(r["tcp.window_size"]) for r in acks]
    sacks = [((times[int(r["frame.number"])], int(le)), (times[int(r["frame.number"])], int(re)))
             for r in acks if r["tcp.options.sack_le"]
             for le, re in zip(r["tcp.options.sack_le"].split(","), r["tcp.options.sack_re"].split(","))]
    assert _flat(bars["sack"]) == pytest.approx(_flat(sacks)) and sacks
    plt.close(fig)


def test_rtt_graph_plots_tsharks_ack_rtt_and_marks_karns_ambiguous_samples():
    rows, times, segments = _tshark("router_bulk")
    anns, streams = annotate_with_streams(segments)
    fig = graphs.rtt(anns, graphs.busiest(streams))
    ax = fig.axes[0]
    plotted = sorted((x, y) for gid in ("rtt", "ambiguous") for line in _by_gid(ax, gid)
                     for x, y in zip(line.get_xdata(), line.get_ydata()))
    sender_port = str(segments[0].sport)
    expected = sorted((times[int(r["frame.number"])], float(r["tcp.analysis.ack_rtt"]) * 1e3)
                      for r in rows.values() if r["tcp.srcport"] != sender_port and r["tcp.analysis.ack_rtt"])
    assert _flat([plotted]) == pytest.approx(_flat([expected])) and len(expected) > 10
    # Karn's rule: a sample is ambiguous when its ACK covers re-sent bytes (tshark's flags) that the
    # previous ACK had not covered, or acknowledges a re-sent frame.
    resent, expected_ambiguous, previous = [], {}, None
    for n in sorted(rows):
        r = rows[n]
        if r["tcp.srcport"] == sender_port and int(r["tcp.len"]) and RESENT & set(r["analysis"]):
            resent.append((n, int(r["tcp.seq"]), int(r["tcp.seq"]) + int(r["tcp.len"])))
        elif r["tcp.srcport"] != sender_port and int(r["tcp.flags"], 16) & 0x10:
            ack = int(r["tcp.ack"])
            if r["tcp.analysis.ack_rtt"]:
                expected_ambiguous[n] = any(lo < ack and (previous is None or hi > previous) for _, lo, hi in resent) \
                    or int(r["tcp.analysis.acks_frame"]) in {f for f, _, _ in resent}
            previous = ack if previous is None else max(previous, ack)
    ambiguous_lines = _by_gid(ax, "ambiguous")
    marked = {round(x, 6) for line in ambiguous_lines for x in line.get_xdata()}
    assert marked == {round(times[n], 6) for n, a in expected_ambiguous.items() if a} and marked
    plt.close(fig)
    text = next(a for a in anns if a.segment.number == max(n for n, a in expected_ambiguous.items() if a)).annotation
    assert "no round-trip time" in text and "Karn" in text
    plt.close(fig)


def test_throughput_adds_up_to_the_bytes_sent_and_acknowledged():
    rows, times, segments = _tshark("router_bulk")
    anns, streams = annotate_with_streams(segments)
    stream = graphs.busiest(streams)
    fig = graphs.throughput(anns, stream, interval=0.05)
    ax = fig.axes[0]
    (sent,) = _by_gid(ax, "sent")
    (good,) = _by_gid(ax, "goodput")
    port = str(segments[0].sport)
    sent_bytes = sum(int(r["tcp.len"]) for r in rows.values() if r["tcp.srcport"] == port)
    acks = [int(r["tcp.ack"]) for r in rows.values() if r["tcp.srcport"] != port and int(r["tcp.flags"], 16) & 0x10]
    assert sum(sent.get_ydata()) * 1e6 * 0.05 / 8 == pytest.approx(sent_bytes)
    assert sum(good.get_ydata()) * 1e6 * 0.05 / 8 == pytest.approx(max(acks) - acks[0])
    assert list(sent.get_xdata()) == pytest.approx([k * 0.05 for k in range(len(sent.get_xdata()))])
    plt.close(fig)


def _info(cwnd, ssthresh, rtt=1.0):
    return TcpInfo(state="ESTABLISHED", rtt_ms=rtt, rttvar_ms=0.5, rto_ms=201.0, retransmits=0, total_retrans=0,
                   lost=0, unacked=0, snd_cwnd=cwnd, snd_mss=1448, rcv_space=0, snd_ssthresh=ssthresh)


def test_tcpinfo_samples_plot_on_the_captures_time_axis():
    t0 = 1_700_000_000_000_000_000
    samples = [TcpInfoSample(t0 + 5_000_000 * k, _info(10 + k, 0x7FFFFFFF if k < 3 else 7)) for k in range(6)]
    fig = graphs.tcpinfo(samples, t0_ns=t0 - 1_000_000)   # the capture began 1 ms before the first sample
    ax = fig.axes[0]
    (cwnd,) = _by_gid(ax, "snd_cwnd")
    (ssthresh,) = _by_gid(ax, "ssthresh")
    assert list(cwnd.get_xdata()) == pytest.approx([0.001 + 0.005 * k for k in range(6)])
    assert list(cwnd.get_ydata()) == [10, 11, 12, 13, 14, 15]
    assert list(ssthresh.get_ydata()) == [7, 7, 7], "an infinite ssthresh (no loss yet) is not drawn"
    with pytest.raises(ValueError, match="unknown TCP_INFO field"):
        graphs.tcpinfo_data(samples, ("cwnd",))
    plt.close(fig)


def test_sniff_graph_writes_the_png(tmp_path: Path):
    out = tmp_path / "trace.png"
    result = subprocess.run([sys.executable, "-m", "lab", "sniff", "--read", str(FIXTURES / "lossy.pcap"),
                             "--graph", "tcptrace", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"chatlab sniff: wrote {out}: tcptrace graph of TCP stream 0 (client's data)"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "lab", "sniff", "--graph", "rtt"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "add --read FILE" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.privileged
def test_live_bulk_transfer_with_tcpinfo_sampler_on_the_capture_clock():
    """A live transfer on lo, captured while the sender's TCP_INFO is sampled: one time axis."""
    from lab.capture import Sniffer
    from lab.net.tcpinfo import TcpInfoSampler

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    total = 2_000_000
    with Sniffer(iface="lo", port=port) as sniffer:
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = listener.accept()
        got = []
        reader = threading.Thread(target=lambda: got.append(sum(iter(lambda: len(conn.recv(65536)), 0))))
        reader.start()
        with TcpInfoSampler(client, interval=0.002) as sampler:
            client.sendall(os.urandom(total))
            client.shutdown(socket.SHUT_WR)
            reader.join(30)
            sc.wait_for(lambda: sampler.samples[-1].info.bytes_acked >= total + 1, "everything acknowledged")
        client.close()
        conn.close()
        sc.wait_for(lambda: (sniffer.poll(), sum(1 for s in sniffer.segments if s.flags & 0x01) >= 2)[1],
                    "both FINs")
    listener.close()
    assert got == [total]
    anns, streams = annotate_with_streams(sniffer.segments, {port})
    stream = graphs.busiest(streams)
    fig = graphs.connection(anns, stream, sampler.samples)
    trace = graphs.tcptrace_data(anns, stream)
    cwnd = [c for c in fig.axes[1].get_children() if c.get_gid() == "snd_cwnd"][0]
    xs = list(cwnd.get_xdata())
    expected = [(s.ts_ns - trace.t0_ns) / 1e9 for s in sampler.samples]
    assert xs == pytest.approx(expected)
    assert list(cwnd.get_ydata()) == [s.info.snd_cwnd for s in sampler.samples]
    # One clock (CLOCK_REALTIME): the first sample was taken after the SYN and before
    # the first byte was sent (start() returns after it), so it lies between them.
    assert 0 < xs[0] < trace.segments[0][0]
    assert trace.acks[-1][1] == 1 + total + 1, "the last ACK: after the SYN (1), every byte, and the FIN (1)"
    plt.close(fig)

"""Graphs of one TCP connection: time-sequence (tcptrace), throughput, RTT, and TCP_INFO on the same clock.

API note (lesson 8 and exercise 10 build on it).  Each graph has a data
function, which returns the numbers, and a plot function, which draws
exactly those numbers (tests read them back from the figure)::

    from lab.capture import annotate_with_streams, read_pcap
    from lab.capture import graphs
    anns, streams = annotate_with_streams(read_pcap("bulk.pcap"))
    stream = graphs.busiest(streams)                  # the TCP connection that carried the most data
    trace = graphs.tcptrace_data(anns, stream)        # segments, ACK line, window line, SACK blocks
    fig = graphs.tcptrace(anns, stream)               # Wireshark's "Stevens/tcptrace" time-sequence graph
    fig = graphs.throughput(anns, stream)             # bits per second sent and acknowledged, per interval
    fig = graphs.rtt(anns, stream)                    # tshark's ack_rtt samples over time
    fig = graphs.tcpinfo(samples, t0_ns=trace.t0_ns)  # the sender's cwnd, ssthresh (lab.net.tcpinfo samples)
    fig = graphs.connection(anns, stream, samples)    # time-sequence over cwnd over RTT, one time axis

Times are seconds since the connection's first packet (``t0_ns``, the same
clock as TCP_INFO samples: both are ``CLOCK_REALTIME``); sequence numbers
are relative, as Wireshark shows them.  By default the graphs follow the
data of the side that sent more (``role="client"`` or ``"server"`` to choose).

matplotlib is imported by the plot functions only; each takes an optional
``ax`` (to draw into a notebook's own figure) and returns the Figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.capture.analysis import Stream
from lab.capture.annotate import Annotated

RETRANSMITTED = ("retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order")
COLORS = {"data": "tab:blue", "retransmission": "red", "ack": "black", "window": "tab:green", "sack": "tab:purple",
          "sent": "tab:blue", "goodput": "tab:green", "rtt": "tab:blue", "ambiguous": "tab:orange",
          "snd_cwnd": "tab:blue", "ssthresh": "tab:red", "rtt_ms": "tab:blue", "rto_ms": "tab:red"}


def busiest(streams: list[Stream]) -> Stream:
    """The TCP connection that carried the most payload bytes (either way)."""
    tcp = [s for s in streams if s.proto == "tcp"]
    if not tcp:
        raise LookupError("the capture has no TCP connection")
    return max(tcp, key=lambda s: sum(f.bytes for f in s.flows.values()))


def sender_role(annotated: list[Annotated], stream: Stream) -> str:
    """The side that sent more payload bytes on ``stream``: "client" or "server"."""
    sent = {"client": 0, "server": 0}
    for ann in _of(annotated, stream):
        sent[ann.role] += ann.segment.length
    return max(sent, key=lambda r: sent[r])


def _of(annotated: list[Annotated], stream: Stream) -> list[Annotated]:
    return [a for a in annotated if a.stream == stream.index and a.segment.proto == "tcp" and a.tcp is not None]


@dataclass
class TraceData:
    """The points of a time-sequence graph (seconds since ``t0_ns``; relative sequence numbers)."""

    t0_ns: int
    role: str                                        # whose data: "client" or "server"
    segments: list = field(default_factory=list)     # (t, seq, end, frame) of first transmissions
    resent: list = field(default_factory=list)       # (t, seq, end, frame) of copies sent again
    acks: list = field(default_factory=list)         # (t, ack) from the receiver: the bytes it holds in order
    window: list = field(default_factory=list)       # (t, ack + window): how far the sender may send
    sacks: list = field(default_factory=list)        # (t, left, right): blocks the receiver holds beyond the ACK


def _t0(annotated: list[Annotated], stream: Stream, t0_ns: int | None) -> int:
    rows = _of(annotated, stream)
    return t0_ns if t0_ns is not None else (rows[0].segment.ts_ns if rows else 0)


def tcptrace_data(annotated: list[Annotated], stream: Stream, role: str | None = None,
                  t0_ns: int | None = None) -> TraceData:
    """The numbers of the time-sequence graph of ``role``'s data on ``stream``."""
    role = role or sender_role(annotated, stream)
    t0 = _t0(annotated, stream, t0_ns)
    trace = TraceData(t0, role)
    for ann in _of(annotated, stream):
        s, t = ann.segment, (ann.segment.ts_ns - t0) / 1e9
        if ann.role == role:
            if s.length and "keep_alive" not in ann.analysis:
                point = (t, ann.seq, ann.seq + s.length, s.number)
                (trace.resent if set(RETRANSMITTED) & set(ann.analysis) else trace.segments).append(point)
        elif "A" in ann.flags:
            trace.acks.append((t, ann.ack))
            if ann.tcp.window_size is not None:
                trace.window.append((t, ann.ack + ann.tcp.window_size))
            for le, re in zip(ann.tcp.sack_le, ann.tcp.sack_re):
                trace.sacks.append((t, le, re))
    return trace


def _axes(ax, size=(10, 5)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax


TIME_AXIS = "time since the connection's first packet (s)"


def _finish(ax, title: str, ylabel: str, xlabel: str = TIME_AXIS, legend: str = "upper left") -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc=legend, fontsize=8)
    ax.grid(alpha=0.3)


def _title(stream: Stream, role: str, what: str) -> str:
    other = "server" if role == "client" else "client"
    return f"{what}: TCP stream {stream.index}, {role} → {other} data"


def tcptrace(annotated: list[Annotated], stream: Stream, role: str | None = None, ax=None,
             t0_ns: int | None = None):
    """The time-sequence graph (Wireshark's "Stevens" and "tcptrace" graphs in one).

    Each data segment is a vertical bar from its first to its last byte at
    the time it was captured (blue; re-sent copies red); the ACK line is
    what the receiver had in order (a step line); the window line is how
    far the sender was allowed to send (ACK + receive window); SACK blocks
    are the ranges the receiver held beyond a gap (purple).  The slope of
    the bars is the sending rate: steep in slow start, flat while waiting.
    """
    from matplotlib.collections import LineCollection

    trace = tcptrace_data(annotated, stream, role, t0_ns)
    fig, ax = _axes(ax)
    for name, points in (("data", trace.segments), ("retransmission", trace.resent)):
        if points:
            bars = LineCollection([[(t, seq), (t, end)] for t, seq, end, _ in points], colors=COLORS[name],
                                  linewidths=2.5 if name == "retransmission" else 2, zorder=3,
                                  label="data segment" if name == "data" else "sent again")
            bars.set_gid(name)
            ax.add_collection(bars)
    if trace.sacks:
        sacks = LineCollection([[(t, le), (t, re)] for t, le, re in trace.sacks], colors=COLORS["sack"],
                               linewidths=1, alpha=0.5, zorder=2, label="SACKed range")
        sacks.set_gid("sack")
        ax.add_collection(sacks)
    if trace.acks:
        ax.plot([t for t, _ in trace.acks], [a for _, a in trace.acks], drawstyle="steps-post",
                color=COLORS["ack"], lw=1, label="ACK (received in order)", gid="ack")
    if trace.window:
        ax.plot([t for t, _ in trace.window], [w for _, w in trace.window], drawstyle="steps-post",
                color=COLORS["window"], lw=1, label="ACK + receive window", gid="window")
    ax.autoscale_view()
    _finish(ax, _title(stream, trace.role, "Time-sequence graph"), "relative sequence number (bytes)")
    return fig


@dataclass
class ThroughputData:
    """Bits per second in consecutive intervals of ``interval`` seconds (starting at 0)."""

    t0_ns: int
    role: str
    interval: float
    starts: list = field(default_factory=list)    # the start of each interval (s since t0)
    sent: list = field(default_factory=list)      # payload bits sent in it, copies included, per second
    goodput: list = field(default_factory=list)   # bits newly acknowledged in it, per second


def throughput_data(annotated: list[Annotated], stream: Stream, role: str | None = None,
                    interval: float | None = None, t0_ns: int | None = None) -> ThroughputData:
    """What the sender put on the wire and what the receiver acknowledged, interval by interval.

    ``sent`` counts every payload byte of ``role`` (re-sent copies too: what
    the link carried); ``goodput`` counts the bytes each new cumulative ACK
    added (what the application on the other side could read).  The
    interval defaults to 1/40 of the connection's duration, 1 ms to 1 s.
    """
    role = role or sender_role(annotated, stream)
    t0 = _t0(annotated, stream, t0_ns)
    rows = _of(annotated, stream)
    duration = (rows[-1].segment.ts_ns - t0) / 1e9 if rows else 0.0
    interval = interval or min(1.0, max(0.001, duration / 40))
    count = int(duration / interval) + 1
    sent, acked = [0] * count, [0] * count
    highest_ack = None
    for ann in rows:
        k = min(count - 1, max(0, int((ann.segment.ts_ns - t0) / 1e9 / interval)))
        if ann.role == role:
            if ann.segment.length and "keep_alive" not in ann.analysis:
                sent[k] += ann.segment.length
        elif "A" in ann.flags:
            if highest_ack is None:
                highest_ack = ann.ack
            elif ann.ack > highest_ack:
                acked[k] += ann.ack - highest_ack
                highest_ack = ann.ack
    return ThroughputData(t0, role, interval, [k * interval for k in range(count)],
                          [8 * b / interval for b in sent], [8 * b / interval for b in acked])


def throughput(annotated: list[Annotated], stream: Stream, role: str | None = None, interval: float | None = None,
               ax=None, t0_ns: int | None = None):
    """Throughput over time: bits per second sent (with copies) and acknowledged (goodput)."""
    data = throughput_data(annotated, stream, role, interval, t0_ns)
    fig, ax = _axes(ax)
    ax.step(data.starts, [v / 1e6 for v in data.sent], where="post", color=COLORS["sent"],
            label="sent (copies included)", gid="sent")
    ax.step(data.starts, [v / 1e6 for v in data.goodput], where="post", color=COLORS["goodput"],
            label="acknowledged (goodput)", gid="goodput")
    _finish(ax, _title(stream, data.role, "Throughput"), "Mbit/s",
            f"{TIME_AXIS}, intervals of {data.interval * 1e3:.3g} ms", legend="upper right")
    return fig


@dataclass
class RttSample:
    """One of tshark's ack_rtt samples: the ACK at ``t`` acknowledged frame ``frame``, ``rtt`` seconds later."""

    t: float
    rtt: float
    frame: int
    ambiguous: bool   # the ACK covers re-sent bytes: not a round-trip time (Karn's rule)


def rtt_data(annotated: list[Annotated], stream: Stream, role: str | None = None,
             t0_ns: int | None = None) -> list[RttSample]:
    """The RTT samples of ``role``'s data (tcp.analysis.ack_rtt on the other side's ACKs).

    ``ambiguous`` marks the samples Karn's rule (RFC 6298, section 3) leaves
    out of an RTT estimate: the ACK covers bytes that had been re-sent (so
    it waited for the copy; which transmission it answers is unknown).
    """
    role = role or sender_role(annotated, stream)
    t0 = _t0(annotated, stream, t0_ns)
    return [RttSample((a.segment.ts_ns - t0) / 1e9, a.tcp.ack_rtt, a.tcp.acks_frame, a.rtt_ambiguous)
            for a in _of(annotated, stream) if a.role != role and a.tcp.ack_rtt is not None]


def rtt(annotated: list[Annotated], stream: Stream, role: str | None = None, ax=None, t0_ns: int | None = None):
    """RTT samples over time (ms); samples of re-sent data (ambiguous, Karn) drawn apart."""
    samples = rtt_data(annotated, stream, role, t0_ns)
    fig, ax = _axes(ax)
    clear = [s for s in samples if not s.ambiguous]
    unclear = [s for s in samples if s.ambiguous]
    ax.plot([s.t for s in clear], [s.rtt * 1e3 for s in clear], "o", ms=3, color=COLORS["rtt"],
            label="ack_rtt sample", gid="rtt")
    if unclear:
        ax.plot([s.t for s in unclear], [s.rtt * 1e3 for s in unclear], "x", ms=5, color=COLORS["ambiguous"],
                label="sample of re-sent data (ambiguous: Karn's rule ignores it)", gid="ambiguous")
    _finish(ax, _title(stream, role or sender_role(annotated, stream), "RTT samples"), "round-trip time (ms)")
    return fig


TCPINFO_FIELDS = {
    "snd_cwnd": ("congestion window (segments)", lambda i: i.snd_cwnd),
    "ssthresh": ("slow-start threshold (segments)", lambda i: i.ssthresh),
    "rtt_ms": ("SRTT (ms)", lambda i: i.rtt_ms),
    "rttvar_ms": ("RTTVAR (ms)", lambda i: i.rttvar_ms),
    "rto_ms": ("RTO (ms)", lambda i: i.rto_ms),
    "retransmits": ("timeouts in a row", lambda i: i.retransmits),
    "total_retrans": ("segments re-sent (total)", lambda i: i.total_retrans),
    "unacked": ("segments in flight", lambda i: i.unacked),
}


def tcpinfo_data(samples, fields=("snd_cwnd", "ssthresh"), t0_ns: int | None = None) -> dict:
    """{field: [(t, value), ...]} of TCP_INFO samples (lab.net.tcpinfo.TcpInfoSample), t in s since ``t0_ns``.

    A value the kernel does not have (ssthresh before the first loss is
    "infinite") is left out.
    """
    t0 = t0_ns if t0_ns is not None else (samples[0].ts_ns if samples else 0)
    out = {}
    for name in fields:
        if name not in TCPINFO_FIELDS:
            raise ValueError(f"unknown TCP_INFO field {name!r}; known: {', '.join(TCPINFO_FIELDS)}")
        read = TCPINFO_FIELDS[name][1]
        out[name] = [((s.ts_ns - t0) / 1e9, read(s.info)) for s in samples if read(s.info) is not None]
    return out


def tcpinfo(samples, fields=("snd_cwnd", "ssthresh"), t0_ns: int | None = None, ax=None):
    """The sender's TCP_INFO over time (by default cwnd and ssthresh), on the capture's time axis."""
    data = tcpinfo_data(samples, fields, t0_ns)
    fig, ax = _axes(ax, (10, 3.5))
    for name, points in data.items():
        ax.plot([t for t, _ in points], [v for _, v in points], drawstyle="steps-post",
                color=COLORS.get(name), label=TCPINFO_FIELDS[name][0], gid=name)
    units = sorted({TCPINFO_FIELDS[name][0].split(" (")[1].rstrip(")") for name in data})
    _finish(ax, "The sender's kernel (TCP_INFO)", " / ".join(units) or "value")
    return fig


def connection(annotated: list[Annotated], stream: Stream, samples=None, role: str | None = None):
    """One figure, one time axis: the time-sequence graph, the kernel's cwnd and ssthresh (when
    TCP_INFO ``samples`` are given), and the RTT samples with the kernel's SRTT and RTO."""
    import matplotlib.pyplot as plt

    rows = 3 if samples else 2
    fig, axes = plt.subplots(rows, 1, figsize=(10, 3.2 * rows + 1), sharex=True,
                             gridspec_kw={"height_ratios": [2] + [1] * (rows - 1)})
    t0 = _t0(annotated, stream, None)
    tcptrace(annotated, stream, role, ax=axes[0], t0_ns=t0)
    if samples:
        tcpinfo(samples, ("snd_cwnd", "ssthresh"), t0_ns=t0, ax=axes[1])
    rtt(annotated, stream, role, ax=axes[-1], t0_ns=t0)
    if samples:
        for name, points in tcpinfo_data(samples, ("rtt_ms", "rto_ms"), t0_ns=t0).items():
            axes[-1].plot([t for t, _ in points], [v for _, v in points], drawstyle="steps-post",
                          color=COLORS[name], lw=1, label=f"kernel {TCPINFO_FIELDS[name][0]}", gid=f"kernel_{name}")
        axes[-1].legend(loc="upper left", fontsize=8)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    fig.tight_layout()
    return fig

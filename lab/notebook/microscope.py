"""Lesson 8 helpers: one TCP connection under the microscope.

A member pastes the kit's book (``lab.experiments.bulk``) into the chat
through the emulated Internet of ``lab.net.netlab`` (delay, a rate limit
with a finite queue, seeded loss).  The packets are captured on the
*sender's* interface, so that a data segment and the ACK that acknowledges
it are one real round trip apart, as in the Kurose-Ross "Wireshark Lab:
TCP" (which captures a browser uploading a file); the sender's kernel is
read at the same time (``TCP_INFO`` every 5 ms: cwnd, ssthresh, srtt, rto).

Three runs make the lesson:

* ``bulk``: the book, through 40 ms of round trip, 4 Mbit/s, a 32 KB queue
  and 1 % loss (seed 7): slow start, the queue overflowing, loss recovery;
* ``timeout``: the same, and the router drops everything for 1.2 s once
  20 KB have been acknowledged: the retransmission timer fires, backs off, and cwnd falls to 1;
* ``pause``: the server process is stopped (SIGSTOP) for 3 s as the paste
  begins, as an application that does not read: its receive window fills
  and closes, and the sender probes it (RFC 9293's zero-window probes).

Live when this machine allows it (root: namespaces and capture), else the
recording the same code made (``lab/data/lessons/08-*.pcap`` and ``.json``:
the packets, the TCP_INFO samples and the moments of the events), with a
visible note, as every lesson does.  ``tools/record_lessons.py`` re-records.

What is computed from a run lives here as plain functions over the
annotated packets (``lab.capture``: the same values as tshark), so the
notebook's claims are checked on the packets it just captured.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.chat.limits import DEFAULT_PORT
from lab.net.rto import RttEstimator
from lab.notebook.display import note
from lab.notebook.settings import FORCE_RECORDED_ENV, LESSON_DATA, NETLAB_PREFIX, RECORD_ENV

PORT = DEFAULT_PORT
SENDER, RECEIVER = "client1", "server"

#: The lab's network for lesson 8: what the router does, each direction.
NETWORK = dict(delay_ms="20ms", rate="2mbit", queue="16kb", loss=1, seed=7)

#: The three runs: what happens to the network (or the receiver) during each.
RUNS = {
    "08-bulk": dict(network=NETWORK, blackout=None, pause=None),
    # a larger queue: the restart after the blackout should not overflow it (that would be another story)
    "08-timeout": dict(network={**NETWORK, "loss": 0, "queue": "64kb"}, blackout=(20_000, 1.2), pause=None),
    "08-pause": dict(network={**NETWORK, "loss": 0}, blackout=None, pause=3.0),
}


@dataclass
class Run:
    """One bulk transfer: its packets (annotated), the sender's TCP_INFO samples, what happened when."""

    name: str
    live: bool
    settings: dict
    segments: list
    tcp_info: list[dict]  # {"t": seconds since the epoch, and TcpInfo's fields}: the sender's kernel
    events: list[tuple[float, str]]  # (seconds since the epoch, what happened)
    sender: tuple[str, int] | None = None  # (address, port) of the pasting member
    paste: list[str] = field(default_factory=list)  # the paste's report, as the client printed it
    annotated: list = field(default_factory=list)
    streams: list = field(default_factory=list)

    def __post_init__(self) -> None:
        from lab.capture import annotate_with_streams

        self.annotated, self.streams = annotate_with_streams(self.segments, {PORT})

    @property
    def stream(self):
        """The pasting member's connection (lab.capture's Stream)."""
        return next(s for s in self.streams if s.proto == "tcp" and self.sender and s.client[1] == self.sender[1])

    @property
    def samples(self) -> list:
        """The kernel's readings as lab.net.tcpinfo.TcpInfoSample (what lab.capture.graphs plots)."""
        from lab.net.tcpinfo import TcpInfo, TcpInfoSample

        fields = set(TcpInfo.__dataclass_fields__)
        return [TcpInfoSample(int(r["t"] * 1e9), TcpInfo(**{k: v for k, v in r.items() if k in fields}))
                for r in self.tcp_info]

    @property
    def source(self) -> str:
        """Where the run comes from, for the lesson's note: "LIVE, ..." or the recorded pcap's path."""
        return f"LIVE, port {PORT} on {SENDER}'s eth0" if self.live else f"lab/data/lessons/{self.name}.pcap"

    @property
    def t0(self) -> float:
        """The time of the pasting member's SYN: every time in the lesson counts from here."""
        conn = self.connection()
        return conn[0].segment.time if conn else 0.0

    def connection(self) -> list:
        """The packets of the pasting member's connection (the capture may also hold the end of the
        connection that checked the server was up)."""
        port = self.sender[1] if self.sender else None
        return [a for a in self.annotated if a.segment.proto == "tcp" and port in (a.segment.sport, a.segment.dport)]

    def data(self) -> list:
        """The sender's packets that carry data, in capture order."""
        return [a for a in self.connection() if a.role == "client" and a.segment.length > 0]

    def acks(self) -> list:
        """The receiver's packets (the server's ACKs), in capture order."""
        return [a for a in self.connection() if a.role == "server"]


# --- running it ---------------------------------------------------------------------------

def bulk_run(lesson, name: str) -> Run:
    """Run ``name`` (a key of RUNS) live if this machine allows it, else load its recording (with a note)."""
    problem = lesson.netns_problem or lesson.capture_problem
    if os.environ.get(FORCE_RECORDED_ENV):
        problem = f"{FORCE_RECORDED_ENV}=1 asks for the recorded captures"
    if problem is None:
        from lab.net.netlab import NetlabError

        try:
            run = _live(name, **RUNS[name])
        except NetlabError as exc:  # e.g. root in a container without CAP_SYS_ADMIN
            problem = f"the emulated network could not be built ({exc})"
        else:
            if os.environ.get(RECORD_ENV):
                save(run, Path(os.environ[RECORD_ENV]))
            return run
    note(f"**RECORDED capture.** Live capture in an emulated network is not possible here ({problem}). "
         f"The packets and kernel readings below were recorded by this notebook on another machine "
         f"(lab/data/lessons/{name}.pcap); their times and ports differ from a live run, the story is the same.")
    return load(name)


def _wait_listening(net, address: tuple[str, int], timeout: float = 15.0) -> None:
    """Wait (bounded) until the server in the lab accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with net.inside(SENDER):
            probe = socket.socket()
        probe.settimeout(1.0)
        try:
            probe.connect(address)
            return
        except OSError:
            time.sleep(0.05)
        finally:
            probe.close()
    raise RuntimeError(f"the chat server in the lab did not start listening on {address[0]}:{address[1]}")


CONGESTION_CONTROL = "cubic"


def _use_cubic(sock: socket.socket) -> str:
    """Make the sender use CUBIC (Linux's default on most systems; some, like this lab machine, default
    to BBR, which reacts to loss differently); returns the algorithm the socket really uses."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CONGESTION_CONTROL.encode())
    except OSError:
        pass  # not available here: the kernel's default stays, and the lesson prints its name
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b"\0", 1)[0].decode()


def _live(name: str, network: dict, blackout: tuple[int, float] | None, pause: float | None) -> Run:
    """One live run; ``blackout`` = (bytes acknowledged before the router goes dark, seconds dark),
    ``pause`` = seconds the server process is stopped as the paste begins."""
    from lab.capture.sniffer import Sniffer
    from lab.experiments.bulk import book_text, paste, paste_lines
    from lab.net.netlab import Netlab
    from lab.net.tcpinfo import TcpInfoSampler
    from lab.peer import Peer

    events: list[tuple[float, str]] = []
    with Netlab(prefix=f"{NETLAB_PREFIX}{os.getpid()}", clients=1, **network) as net:
        address = (net.address(RECEIVER), PORT)
        # The server in its own process, so that it can be paused (SIGSTOP) like a busy application;
        # its flood limit is raised: this lesson is about TCP, not about the chat's limit.
        server = net.popen(RECEIVER, [sys.executable, "-m", "lab", "server", "--host", address[0], "--port",
                                      str(PORT), "--rate", "100000", "--burst", "100000", "-q"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        paused = False
        try:
            _wait_listening(net, address)
            sniffer = Sniffer(iface="eth0", port=PORT, netns=net.netns(SENDER)).start()
            try:
                with net.inside(SENDER):
                    alice = Peer(address, "alice")
                congestion_control = _use_cubic(alice.sock)
                sampler = TcpInfoSampler(alice.sock, interval=0.005).start()
                alice.sock.settimeout(None)  # flow control may hold sendall() back: that is what we watch
                timers = []
                if blackout:
                    def dark() -> None:
                        # after ``blackout[0]`` bytes were acknowledged (a condition, not a sleep: the
                        # transfer is in full swing, with segments on their way, however busy the machine)
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline and not any(
                                (s.info.bytes_acked or 0) >= blackout[0] for s in sampler.samples[-3:]):
                            time.sleep(0.002)
                        events.append((time.time(), "the router starts dropping every packet"))
                        net.set_loss(100)
                        time.sleep(blackout[1])
                        net.set_loss(network.get("loss", 0))
                        events.append((time.time(), "the router forwards again"))
                    timers.append(threading.Thread(target=dark, daemon=True))
                if pause:
                    os.kill(server.pid, signal.SIGSTOP)
                    paused = True
                    events.append((time.time(), "the server process is stopped (SIGSTOP): it reads nothing"))

                    def wake() -> None:
                        nonlocal paused
                        time.sleep(pause)
                        events.append((time.time(), "the server process continues (SIGCONT) and reads again"))
                        os.kill(server.pid, signal.SIGCONT)
                        paused = False
                    timers.append(threading.Thread(target=wake, daemon=True))
                for timer in timers:
                    timer.start()
                events.append((time.time(), "alice starts pasting the book"))
                report = paste(alice.sock, paste_lines(book_text()), wait_acked=60)
                for timer in timers:
                    timer.join(10)
                alice.send("/quit")
                alice.read_until_closed(timeout=5)
                samples = sampler.stop()
                alice.close()
            finally:
                time.sleep(0.2)  # the last ACKs and the FINs reach the capture
                drops = sniffer.stop()
        finally:
            if paused:
                os.kill(server.pid, signal.SIGCONT)
    frames = list(sniffer.frames)
    run = Run(name, True, {**network, "congestion_control": congestion_control,
                           "capture_missed": drops.total}, list(sniffer.segments),
              [{"t": s.time, **s.info.to_dict()} for s in samples], events,
              sender=tuple(alice.local), paste=report.summary())
    run.frames = frames
    return run


# --- recording and replaying --------------------------------------------------------------

SNAPLEN = 128  # bytes kept of each frame: every header (lengths come from the IP header), not the book
# TCP_INFO fields a recording keeps: what the lesson plots and checks (the byte and segment counters,
# which change on every reading, would make the file ten times larger)
KERNEL_FIELDS = ("t", "state", "ca_state", "rtt_ms", "rttvar_ms", "rto_ms", "retransmits", "total_retrans", "lost",
                 "unacked", "snd_cwnd", "snd_ssthresh", "snd_mss", "rcv_space", "backoff", "probes", "snd_wnd")


def _changes(readings: list[dict]) -> list[dict]:
    """The readings that differ from the one before (apart from the time), and the last: the same step curves."""
    kept = [r for i, r in enumerate(readings)
            if i == 0 or i == len(readings) - 1 or {**r, "t": 0} != {**readings[i - 1], "t": 0}]
    return kept


def save(run: Run, directory: Path) -> Path:
    """Write the run's packets (pcap, headers only) and the rest (json) where tools/record_lessons.py asks."""
    from dataclasses import replace

    from lab.capture.files import write_pcap

    directory.mkdir(parents=True, exist_ok=True)
    write_pcap(directory / f"{run.name}.pcap", [replace(f, data=f.data[:SNAPLEN]) for f in run.frames],
               snaplen=SNAPLEN)
    meta = {"settings": run.settings, "events": run.events, "sender": run.sender, "paste": run.paste,
            "server_ports": [PORT],
            "tcp_info": _changes([{k: r[k] for k in KERNEL_FIELDS if k in r} for r in run.tcp_info])}
    (directory / f"{run.name}.json").write_text(json.dumps(meta) + "\n")
    return directory / f"{run.name}.pcap"


def load(name: str) -> Run:
    """The recorded run ``name`` from lab/data/lessons/."""
    from lab.capture import read_pcap

    meta = json.loads((LESSON_DATA / f"{name}.json").read_text())
    return Run(name, False, meta["settings"], read_pcap(LESSON_DATA / f"{name}.pcap"), meta["tcp_info"],
               [tuple(e) for e in meta["events"]], sender=tuple(meta["sender"]) if meta["sender"] else None,
               paste=meta["paste"])


# --- what the lesson reads from a run (plain functions over the annotated packets) ----------

def handshake(run: Run) -> dict:
    """The three-way handshake: raw and relative numbers and the SYN options of each side."""
    syn = next(a for a in run.connection() if a.step.startswith("SYN 1/3"))
    synack = next(a for a in run.connection() if a.step.startswith("SYN-ACK"))
    return {
        "syn_frame": syn.segment.number, "syn_seq_raw": syn.segment.seq, "syn_seq": syn.seq,
        "synack_frame": synack.segment.number, "synack_seq_raw": synack.segment.seq,
        "synack_ack_raw": synack.segment.ack, "synack_ack": synack.ack,
        "client_options": {"mss": syn.tcp.mss_val, "wscale": syn.tcp.wscale_shift, "sack_perm": syn.tcp.sack_perm,
                           "timestamps": syn.tcp.tsval is not None},
        "server_options": {"mss": synack.tcp.mss_val, "wscale": synack.tcp.wscale_shift,
                           "sack_perm": synack.tcp.sack_perm, "timestamps": synack.tcp.tsval is not None},
        "handshake_rtt": synack.tcp.ack_rtt,
    }


def first_segments(run: Run, count: int = 6) -> list[dict]:
    """The Kurose-Ross table: the first ``count`` data segments, their RTT samples and EstimatedRTT.

    A segment's *SampleRTT* is the time from sending it to the first ACK
    that covers its last byte (the Kurose-Ross definition); EstimatedRTT =
    0.875 EstimatedRTT + 0.125 SampleRTT, starting at the first sample.
    ``ack_rtt`` is tshark's value on that ACK, which measures from the
    *newest* segment the ACK covers: the same number unless one ACK covers
    two segments (a delayed ACK), where the first segment's sample is longer.
    """
    rows, estimated = [], None
    srtt = RttEstimator()   # Kurose-Ross's EstimatedRTT is RFC 6298's SRTT (alpha = 1/8)
    acks = run.acks()
    for a in run.data()[:count]:
        end = a.seq + a.segment.length
        ack = next((b for b in acks if b.segment.ts_ns > a.segment.ts_ns and b.ack >= end), None)
        sample = (ack.segment.ts_ns - a.segment.ts_ns) / 1e9 if ack else None
        if sample is not None:
            srtt.sample(sample)
            estimated = srtt.srtt
        rows.append({"frame": a.segment.number, "seq": a.seq, "length": a.segment.length,
                     "sent": a.segment.time - run.t0, "ack_frame": ack.segment.number if ack else None,
                     "acked": ack.segment.time - run.t0 if ack else None, "sample_rtt": sample,
                     "estimated_rtt": estimated, "ack_rtt": ack.tcp.ack_rtt if ack else None,
                     "acks_frame": ack.tcp.acks_frame if ack else None})
    return rows


def retransmitted_ranges(run: Run) -> list[tuple[int, int]]:
    """The relative sequence ranges the sender sent more than once (what the capture shows)."""
    return [(a.retransmission.seq, a.retransmission.end) for a in run.data() if a.retransmission]


def rtt_samples(run: Run) -> list[tuple[float, float]]:
    """(seconds since the SYN, RTT) of tshark's ack_rtt samples, without those Karn's rule leaves out
    (RFC 6298, section 3: the acknowledged data had been sent twice), from lab.capture.graphs."""
    from lab.capture import graphs

    return [(s.t, s.rtt) for s in graphs.rtt_data(run.annotated, run.stream, "client") if not s.ambiguous]


def rfc6298(samples: list[tuple[float, float]], min_rto: float = 1.0) -> list[dict]:
    """SRTT, RTTVAR and RTO after each (t, rtt) sample, by RFC 6298 (lab.net.rto's estimator; G = 1 ms,
    no cap; ``min_rto``: 1 s, or Linux's 0.2 s applied the RFC's way)."""
    estimator = RttEstimator(min_rto=min_rto, max_rto=math.inf)
    out = []
    for t, r in samples:
        estimator.sample(r)
        out.append({"t": t, "sample": r, "srtt": estimator.srtt, "rttvar": estimator.rttvar, "rto": estimator.rto})
    return out


def kernel(run: Run) -> list[dict]:
    """The sender's TCP_INFO samples, with ``t`` in seconds since the SYN."""
    return [{**s, "t": s["t"] - run.t0} for s in run.tcp_info]


def event_times(run: Run) -> list[tuple[float, str]]:
    """The run's events, in seconds since the SYN."""
    return [(t - run.t0, what) for t, what in run.events]


def receive_windows(run: Run) -> list[int]:
    """The receiver's advertised window (bytes, scaled as tshark scales it) on each of its packets after the SYN-ACK."""
    return [a.tcp.window_size for a in run.acks() if a.tcp and a.tcp.window_size is not None and "S" not in a.flags]


def window_probes(run: Run) -> list:
    """The sender's probes of a closed window: segments of at most one byte sent while the receiver's
    last advertised window was 0.  (RFC 9293 probes with one byte of new data, which tshark calls a
    zero-window probe; Linux sends no data and an old sequence number, snd_una - 1, which forces the
    receiver to answer with its window: tshark calls that a keep-alive.)"""
    probes, closed = [], False
    for a in run.connection():
        if a.role == "server" and a.tcp and a.tcp.window_size is not None and "S" not in a.flags:
            closed = a.tcp.window_size == 0
        elif a.role == "client" and closed and a.segment.length <= 1:
            probes.append(a)
    return probes


def goodput(run: Run) -> float:
    """Bits per second of new data: the bytes the receiver acknowledged from the paste's first segment on,
    over the time from that segment to the last ACK of new data."""
    began = next((t for t, what in run.events if "starts pasting" in what), 0.0)
    first = next(a for a in run.data() if a.segment.time >= began)
    last = max((a for a in run.acks() if a.tcp), key=lambda a: a.ack)
    return (last.ack - first.seq) * 8 / ((last.segment.ts_ns - first.segment.ts_ns) / 1e9)


def slow_start_end(run: Run) -> float | None:
    """Seconds after the SYN when the sender left slow start: its first retransmission (the first loss)."""
    first = next((a for a in run.data() if a.retransmission), None)
    return first.segment.time - run.t0 if first else None


# --- graphs ------------------------------------------------------------------------------------

def figure(run: Run, title: str | None = None):
    """lab.capture.graphs' connection figure (time-sequence, the kernel's cwnd and ssthresh, RTT samples
    with the kernel's SRTT and RTO, one time axis), with the run's events marked on every panel."""
    from lab.capture import graphs

    fig = graphs.connection(run.annotated, run.stream, run.samples, role="client")
    for ax in fig.axes:
        for t, what in event_times(run):
            if "starts pasting" in what:
                continue  # the first data segments say it
            ax.axvline(t, color="grey", linestyle=":", linewidth=1, gid="event")
    top = fig.axes[0]
    for t, what in event_times(run):
        if "starts pasting" not in what:
            top.annotate(what, (t, 0), xycoords=("data", "axes fraction"), xytext=(-3, 4),
                         textcoords="offset points", rotation=90, fontsize=7, va="bottom", ha="right",
                         color="dimgrey")
    fig.suptitle(title or f"{run.name} ({run.source})", fontsize=10)
    fig.tight_layout()
    return fig


# --- the lesson's claims, checked on the run's own packets and kernel readings --------------------

def _claim(text: str, holds: bool, evidence: str):
    from lab.notebook.claims import Claim

    return Claim(text, bool(holds), evidence)


def handshake_claims(run: Run) -> list:
    """The SYN-ACK acknowledges ISN + 1; the MSS each side announces is the link's MTU (1500) minus 40."""
    h = handshake(run)
    isn = h["syn_seq_raw"]
    return [
        _claim("the SYN-ACK acknowledges the client's ISN + 1", h["synack_ack_raw"] == (isn + 1) % 2**32,
               f"ack {h['synack_ack_raw']} = ISN {isn} + 1"),
        _claim("both SYNs announce MSS 1460: the lab's MTU of 1500 bytes minus 20 of IP and 20 of TCP header",
               h["client_options"]["mss"] == h["server_options"]["mss"] == 1460,
               f"client {h['client_options']['mss']}, server {h['server_options']['mss']}"),
    ]


def rtt_floor_claims(run: Run) -> list:
    """No RTT sample is shorter than the round trip the router adds (a floor: the router holds every packet)."""
    added = 2 * float(str(run.settings["delay_ms"]).removesuffix("ms")) / 1000
    samples = [r for _, r in rtt_samples(run)]
    return [_claim(f"every RTT sample is at least the {added * 1000:g} ms the router adds to the round trip",
                   samples and min(samples) >= added,
                   f"{len(samples)} samples, shortest {min(samples) * 1000:.2f} ms" if samples else "no sample")]


def segment_claims(run: Run) -> list:
    """No data segment is longer than the MSS minus the 12 bytes of the timestamps option."""
    lengths = [a.segment.length for a in run.data()]
    mss = handshake(run)["server_options"]["mss"]
    return [_claim(f"no segment carries more than MSS {mss} - 12 bytes of timestamps option = {mss - 12} bytes",
                   lengths and max(lengths) <= mss - 12, f"longest {max(lengths)} bytes, {len(lengths)} segments")]


def slow_start_claims(run: Run) -> list:
    """cwnd only grows until the first loss, and shrinks after it (the kernel's readings)."""
    end = slow_start_end(run)
    readings = [s for s in kernel(run) if end is not None and s["t"] < end]
    before = [s["snd_cwnd"] for s in readings]
    after = [s["snd_cwnd"] for s in kernel(run) if end is not None and s["t"] >= end]
    # (a sender that ran out of data for longer than its RTO restarts from a smaller window, RFC 5681
    # 4.1: not a loss; a reading taken with nothing in flight is where that can happen)
    grows = bool(before) and all(b["snd_cwnd"] >= a["snd_cwnd"] for a, b in zip(readings, readings[1:])
                                 if a["unacked"] > 0)
    return [
        _claim("until the first retransmission the kernel's cwnd only grew (slow start)", grows,
               f"{before[0]} -> {max(before)} segments in {end:.3f} s" if before else "no reading before a loss"),
        _claim("after it, cwnd went below its peak (the loss ended slow start)",
               bool(after) and min(after) < max(before or [0]),
               f"lowest afterwards {min(after)} segments" if after else "no reading after the loss"),
    ]


def resent_segments(run: Run) -> list:
    """The sender's segments that the capture shows as sent again: data, and a SYN or FIN (each takes a
    sequence number, and the kernel counts their retransmissions too)."""
    return [a for a in run.connection() if a.role == "client" and (a.retransmission or "retransmission" in a.analysis)
            and (a.segment.length or "S" in a.flags or "F" in a.flags)]


def retransmission_claims(run: Run) -> list:
    """The capture (at the sender) and the kernel count the same retransmissions."""
    seen, kernel_count = len(resent_segments(run)), run.tcp_info[-1]["total_retrans"]
    missed = run.settings.get("capture_missed", 0)
    if missed:  # a busy machine: the capture lost packets (it says how many), so it can only show fewer
        return [_claim(f"the capture shows no more retransmitted segments than the kernel counted (the "
                       f"capture missed {missed} packets on this busy machine)", seen <= kernel_count,
                       f"capture {seen}, TCP_INFO total_retrans {kernel_count}")]
    return [_claim("the capture shows as many retransmitted segments as the sender's kernel counted",
                   seen == kernel_count, f"capture {seen}, TCP_INFO total_retrans {kernel_count}")]


def rto_claims(run: Run) -> list:
    """Linux's RTO is SRTT plus at least 200 ms whenever the timer is not backing off."""
    calm = [s for s in run.tcp_info if s["backoff"] == 0]
    worst = min((s["rto_ms"] - s["rtt_ms"] for s in calm), default=None)
    return [_claim("whenever it is not backing off, the kernel's rto is at least its srtt + 200 ms",
                   worst is not None and worst >= 200 - 1,  # TCP_INFO rounds rto to the kernel's jiffies
                   f"smallest rto - srtt over {len(calm)} readings: {worst:.1f} ms" if worst is not None
                   else "no reading")]


def timeout_claims(run: Run) -> list:
    """After the blackout's timeout: cwnd 1, state Loss, the timer doubled; the capture names the cause."""
    loss = [s for s in run.tcp_info if s["ca_state"] == "Loss"]
    # each time the timer expires again for the same data, backoff grows by one and RTO doubles
    steps = [(a, b) for a, b in zip(run.tcp_info, run.tcp_info[1:])
             if a["backoff"] >= 1 and b["backoff"] == a["backoff"] + 1]
    doubled = bool(steps) and all(b["rto_ms"] == min(2 * a["rto_ms"], 120_000) for a, b in steps)
    causes = {a.retransmission.cause for a in run.data() if a.retransmission}
    return [
        _claim("after the timeout the kernel's congestion window is 1 segment, in the state Loss",
               loss and min(s["snd_cwnd"] for s in loss) == 1,
               f"{len(loss)} readings in Loss, cwnd {sorted({s['snd_cwnd'] for s in loss})}" if loss else
               "no reading in the state Loss"),
        _claim("each further timeout of the same data doubled the RTO (backoff)", doubled,
               ", ".join(f"backoff {a['backoff']} -> {b['backoff']}: rto {a['rto_ms']:g} -> {b['rto_ms']:g} ms"
                         for a, b in steps) or "the timer never expired twice in a row"),
        _claim("the capture explains retransmissions by the timer (cause rto)", "rto" in causes,
               f"causes seen: {', '.join(sorted(causes)) or 'none'}"),
        *_silent_after_blackout(run),
    ]


def _silent_after_blackout(run: Run) -> list:
    """The link came back, but the sender waited for its backed-off timer before it sent again."""
    back = next((t for t, what in event_times(run) if "forwards again" in what), None)
    if back is None:
        return []
    after = next((a for a in run.connection() if a.role == "client" and a.segment.time - run.t0 > back), None)
    waited = after.segment.time - run.t0 - back if after else None
    resent_by_timer = bool(after and after.retransmission and after.retransmission.cause == "rto")
    dsack = next((a for a in run.connection() if a.role == "server" and a.tcp and a.tcp.dsack
                  and a.segment.time - run.t0 > back), None)
    return [_claim("after the link came back the sender stayed silent until its timer expired",
                   resent_by_timer, f"its next packet, a retransmission by the timer, left {waited:.2f} s after "
                   "the router forwarded again" if after else "the sender sent nothing afterwards"),
            _claim("the first copy had arrived (only ACKs were lost): the server reports the resent one as a "
                   "duplicate (D-SACK)", dsack is not None,
                   f"frame {dsack.segment.number}: D-SACK {dsack.tcp.dsack[0]}-{dsack.tcp.dsack[1]}" if dsack
                   else "no D-SACK after the blackout")]


def flow_control_claims(run: Run) -> list:
    """While the server does not read: a zero window, probes of it, and nothing lost."""
    windows = receive_windows(run)
    probes = window_probes(run)
    acked = [line for line in run.paste if line.startswith("the server's TCP had acknowledged every byte")]
    return [
        _claim("the stopped server's TCP advertised a zero window", 0 in windows,
               f"smallest advertised window {min(windows)} bytes" if windows else "no window seen"),
        _claim("the sender probed the closed window and the server's TCP answered", len(probes) >= 1,
               f"{len(probes)} probe(s), at {', '.join(f'{a.segment.time - run.t0:.2f} s' for a in probes)}"),
        _claim("the wait between probes doubled (the kernel's backoff counter reached 2 while the window was shut)",
               any(s["backoff"] >= 2 and s["snd_wnd"] == 0 for s in run.tcp_info),
               "backoff " + " -> ".join(str(b) for b in sorted({s["backoff"] for s in run.tcp_info
                                                                  if s["snd_wnd"] == 0}))),
        _claim("every byte of the book was acknowledged in the end", bool(acked),
               acked[0] if acked else "the paste did not report it"),
    ]

"""Run a load test: start the worker processes, drive the phases, add up the numbers.

Phases (every one bounded in time; a hard deadline ends the run whatever
happens, so `chatlab load` always stops by itself):

1. *connect*: the clients connect on a ramp (client i at T0 + i x ramp / N),
   register a name and mark themselves with ``/bot`` (their messages stay
   out of the server's history); stalled clients come last.
2. *send*: the senders send ``rate`` messages per second each, for
   ``duration`` seconds, every message carrying a token (see accounting.py).
3. *drain*: receiving goes on until nothing has arrived for ``idle``
   seconds (or ``drain`` seconds have passed), then every worker reports.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import socket
import string
import time
from dataclasses import asdict, dataclass

from lab.chat.limits import DEFAULT_PORT, MAX_LINE_BYTES
from lab.experiments.load.accounting import Histogram, ReceiverResult, reach, stall_verdict
from lab.experiments.load.worker import worker_main
from lab.net.sockopts import raise_fd_limit

# The limits of a run, once: LoadConfig.check() and `chatlab load`'s options (lab/commands/load.py) use these.
MAX_DURATION = 3600.0  # seconds of sending
MAX_CLIENTS = 50_000
MAX_RATE = 1000.0  # messages per second per sender
MAX_RAMP = 600.0  # seconds
MAX_STALLED = 1000
MAX_SIZE = 1000  # bytes a message is padded to: below the server's line limit (MAX_LINE_BYTES, 1024)
MAX_PROCESSES = 64
AUTO_ALL_TIMED = 200  # up to this many clients, every one is timed
AUTO_TIMED = 125  # above it, about this many (spread over the join order) plus the senders


class LoadError(Exception):
    """A problem the user can fix (bad host, bad numbers); one line of text."""


@dataclass
class LoadConfig:
    """Everything one `chatlab load` run needs: the server, how many clients, how they send, how long.

    Times in seconds, rates in messages per second per sender, sizes in
    bytes; the defaults are `chatlab load`'s (docs/PERFORMANCE.md).
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    clients: int = 50
    senders: int = 5
    rate: float = 2.0  # messages per second per sender
    duration: float = 10.0  # seconds of sending
    ramp: float = 2.0  # seconds over which the clients connect
    stalled: int = 0  # extra clients that never read
    stalled_rcvbuf: int = 4096  # their SO_RCVBUF
    stalled_mss: int = 1460  # the MSS their SYN announces (TCP_MAXSEG): Ethernet's, not loopback's 65,483
    size: int = 0  # pad messages to this many bytes
    processes: int = 0  # worker processes; 0 = choose
    connect_timeout: float = 10.0
    drain: float = 5.0  # longest wait for late messages after sending stops
    idle: float = 0.5  # stop draining once nothing has arrived for this long
    kernel_timestamps: bool = True  # latency to the kernel's receive time (Linux), not to our read
    timed_every: int = 0  # latency on the senders and every K-th client, the rest read in bulk; 0 = choose

    def timed_step(self) -> int:
        """K of ``timed_every``: all clients up to 200, else about 125 timed ones (plus the senders)."""
        if self.timed_every:
            return self.timed_every
        return 1 if self.clients <= AUTO_ALL_TIMED else self.clients // AUTO_TIMED

    def check(self) -> None:
        """Raise LoadError with a one-line reason if the numbers make no sense.

        `chatlab load` checks each option on its own first (same limits); this
        guards the other callers (bench/run.py) and the rules that tie two
        numbers together (senders and --latency-every at most --clients).
        """
        if not 1 <= self.port <= 65535:
            raise LoadError("--port must be between 1 and 65535")
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise LoadError(f"--clients must be between 1 and {MAX_CLIENTS}")
        if not 0 <= self.senders <= self.clients:
            raise LoadError("--senders must be between 0 and --clients")
        if not 0 < self.rate <= MAX_RATE:
            raise LoadError(f"--rate must be above 0 and at most {MAX_RATE:g} messages/s per sender")
        if not 0 < self.duration <= MAX_DURATION:
            raise LoadError(f"--duration must be above 0 and at most {MAX_DURATION:.0f} s")
        if not 0 <= self.ramp <= MAX_RAMP:
            raise LoadError(f"--ramp must be between 0 and {MAX_RAMP:g} s")
        if not 0 <= self.stalled <= MAX_STALLED:
            raise LoadError(f"--stalled must be between 0 and {MAX_STALLED}")
        if not 0 <= self.size <= MAX_SIZE:
            raise LoadError(f"--size must be between 0 and {MAX_SIZE} bytes (the server's line limit is "
                            f"{MAX_LINE_BYTES})")
        if not 0 <= self.timed_every <= self.clients:
            raise LoadError("--latency-every must be between 0 (choose) and --clients")
        if not 0 <= self.processes <= MAX_PROCESSES:
            raise LoadError(f"--processes must be between 0 (choose) and {MAX_PROCESSES}")

    def worker_count(self) -> int:
        """Processes to use: about 400 clients each, at most one per CPU."""
        if self.processes:
            return self.processes
        total = self.clients + self.stalled
        return max(1, min(os.cpu_count() or 1, -(-total // 400)))


def _resolve(host: str, port: int) -> tuple:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LoadError(f"cannot resolve {host!r}: {exc.strerror}") from None
    return infos[0][4][:2]


def _plan(cfg: LoadConfig, run: str) -> list[dict]:
    """Who is who: client index, name, role, sender number; stalled clients last."""
    total = cfg.clients + cfg.stalled
    senders = set()
    if cfg.senders:
        step = cfg.clients / cfg.senders
        senders = {int(i * step) for i in range(cfg.senders)}
    plan, number = [], 0
    for i in range(total):
        if i >= cfg.clients:
            plan.append({"index": i, "name": f"S{run}{i - cfg.clients}", "role": "stalled"})
        elif i in senders:
            plan.append({"index": i, "name": f"L{run}s{i}", "role": "send", "sender": number})
            number += 1
        else:
            plan.append({"index": i, "name": f"L{run}r{i}", "role": "recv"})
    return plan


def _recv(conn, kind: str, deadline: float):
    """The next message of ``kind`` from a worker, or None at the deadline / if it died."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if not conn.poll(min(left, 0.5)):
            continue
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return None  # the worker died
        if message[0] == kind:
            return message


def run_load(cfg: LoadConfig, progress=None) -> dict:
    """Run one load test and return the report (a JSON-able dict).

    ``progress(text)`` is called at each phase (for a status line).
    """
    cfg.check()
    say = progress or (lambda text: None)
    addr = _resolve(cfg.host, cfg.port)
    run = "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
    plan = _plan(cfg, run)
    workers = cfg.worker_count()
    raise_fd_limit(64 + 4 * workers)
    # hard limit for the whole run, enforced by the workers and by us
    budget = 5 + cfg.ramp + cfg.connect_timeout + 1 + cfg.duration + cfg.drain + 5
    hard_deadline_ns = time.time_ns() + int(budget * 1e9)
    hard_deadline = time.monotonic() + budget + 3
    ctx = multiprocessing.get_context("spawn")  # no fork: the parent may have threads
    procs, pipes = [], []
    try:
        for w in range(workers):
            parent_end, child_end = ctx.Pipe()
            wcfg = {
                "addr": addr, "run": run, "clients": plan[w::workers], "total_clients": len(plan),
                "ramp": cfg.ramp, "rate": cfg.rate, "senders": max(1, cfg.senders), "size": cfg.size,
                "stalled_rcvbuf": cfg.stalled_rcvbuf, "stalled_mss": cfg.stalled_mss, "connect_timeout": cfg.connect_timeout,
                "idle_ns": int(cfg.idle * 1e9), "hard_deadline_ns": hard_deadline_ns,
                "kernel_timestamps": cfg.kernel_timestamps, "timed_every": cfg.timed_step(),
            }
            proc = ctx.Process(target=worker_main, args=(child_end, wcfg), name=f"chatlab-load-{w}", daemon=True)
            proc.start()
            child_end.close()
            procs.append(proc)
            pipes.append(parent_end)
        say(f"starting {workers} worker process(es)")
        for conn in pipes:
            if _recv(conn, "alive", time.monotonic() + 30) is None:
                raise LoadError("a worker process did not start")
        t0 = time.time_ns() + 50_000_000
        for conn in pipes:
            conn.send(("start", t0))
        say(f"connecting {len(plan)} clients to {addr[0]} port {addr[1]} over {cfg.ramp:g} s")
        connect_deadline = time.monotonic() + cfg.ramp + cfg.connect_timeout + 2
        ready = [_recv(conn, "ready", connect_deadline) for conn in pipes]
        connect_wall = (time.time_ns() - t0) / 1e9
        registered = sum(r[1]["registered"] for r in ready if r)
        if registered == 0:
            failures = [f for r in ready if r for f in r[1]["failed"]]
            reason = failures[0][1] if failures else "no answer"
            raise LoadError(f"no client could register with {cfg.host} port {cfg.port}: {reason}")
        start_ns = time.time_ns() + 200_000_000
        end_ns = start_ns + int(cfg.duration * 1e9)
        drain_ns = end_ns + int(cfg.drain * 1e9)
        for conn in pipes:
            conn.send(("go", start_ns, end_ns, drain_ns))
        say(f"{len(procs)} worker(s): {cfg.senders} senders x {cfg.rate:g} msg/s for {cfg.duration:g} s")
        done = [_recv(conn, "done", min(hard_deadline, time.monotonic() + cfg.duration + cfg.drain + 10)) for conn in pipes]
        finished_ns = time.time_ns()
    finally:
        for conn in pipes:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        for conn in pipes:
            conn.close()
    return _report(cfg, plan, run, addr, workers, ready, done, start_ns, end_ns, finished_ns, connect_wall)


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, -(-len(values) * p // 100) - 1))]


def _report(cfg, plan, run, addr, workers, ready, done, start_ns, end_ns, finished_ns, connect_wall) -> dict:
    results = [d[1] for d in done if d]
    sent: dict[int, int] = {}
    latency, read_lag = Histogram(), Histogram()
    receivers: list[ReceiverResult] = []
    left, stalled, closed, failed, connect_ms = set(), [], [], [], []
    bots = 0
    stalled_unread: dict[str, int] = {}
    cpu_window = cpu_user = cpu_sys = 0.0
    kernel_ts = timed = 0
    timeline: dict[int, list[int]] = {}
    for r in results:
        sent.update({int(k): v for k, v in r["sent"].items()})
        latency.merge(Histogram.from_dict(r["latency"]))
        read_lag.merge(Histogram.from_dict(r["read_lag"]))
        receivers += [ReceiverResult(x["index"], x["unique"], x["duplicates"], x["out_of_order"], x["connected_throughout"])
                      for x in r["receivers"]]
        left.update(tuple(x) for x in r["left"])
        stalled += r["stalled"]
        stalled_unread.update(r["stalled_unread"])
        closed += [tuple(x) for x in r["closed_during_run"]]
        failed += [tuple(x) for x in r["failed"]]
        connect_ms += r["connect_ms"]
        bots += r["bots"]
        cpu_window += r["cpu_window_s"]
        kernel_ts += r["kernel_timestamps"]
        timed += r["timed_receivers"]
        for second, (count, worst) in r["timeline"].items():
            entry = timeline.setdefault(int(second), [0, 0])
            entry[0] += count
            entry[1] = max(entry[1], worst)
        cpu_user += r["cpu_window_user_s"]
        cpu_sys += r["cpu_window_sys_s"]
    sender_of = {c["index"]: c["sender"] for c in plan if c["role"] == "send"}
    counts = reach(receivers, sent, sender_of)
    window = (end_ns - start_ns) / 1e9
    stalled_names = {c["name"] for c in plan if c["role"] == "stalled"}
    stalled_left = sorted({(n, why) for n, why in left if n in stalled_names})
    timeline_rows = [
        {"t": second - start_ns // 1_000_000_000, "deliveries": count, "max_ms": round(worst / 1000, 1)}
        for second, (count, worst) in sorted(timeline.items())
    ]
    stalled_section = {"count": cfg.stalled, "registered": len(stalled), "names": sorted(stalled),
                       "dropped": stalled_left, "unread_bytes": stalled_unread}
    return {
        "target": {"host": cfg.host, "address": addr[0], "port": addr[1]},
        "config": asdict(cfg) | {"processes": workers},
        "run": run,
        "window": {"start_ns": start_ns, "end_ns": end_ns, "finished_ns": finished_ns},
        "connect": {
            "clients": len(plan),
            "registered": len(connect_ms),
            "failed": len(failed),
            "failures": failed[:10],
            "seconds": round(connect_wall, 3),
            "p50_ms": _pct(connect_ms, 50),
            "max_ms": max(connect_ms) if connect_ms else None,
            # members marked with /bot: the server keeps their messages out of its history
            "bots": bots,
        },
        "messages_sent": sum(sent.values()),
        "deliveries_per_s": round(counts["delivered"] / window, 1) if window else None,
        **counts,
        "latency_ms": {
            "p50": _ms(latency.percentile(50)),
            "p99": _ms(latency.percentile(99)),
            "max": _ms(latency.max_us if latency.total else None),
            "samples": latency.total,
            # latency comes from the timed receivers only; all of them count reach and order
            "timed_receivers": timed,
            "receivers": len(receivers),
            "clock": ("kernel receive timestamp (SO_TIMESTAMPNS)" if kernel_ts and kernel_ts == timed
                      else "when the load generator read it" if not kernel_ts else
                      f"kernel receive timestamp for {kernel_ts} of {timed} timed receivers"),
        },
        # per turn of a worker's loop: the time to read every socket that was ready,
        # an upper bound on how much the load generator itself adds to a latency
        "read_lag_ms": {"p50": _ms(read_lag.percentile(50)), "p99": _ms(read_lag.percentile(99)),
                        "max": _ms(read_lag.max_us if read_lag.total else None)},
        # second by second from the start of sending: deliveries and the slowest one,
        # to see *when* a server stalled (a freeze, a garbage collection, a burst)
        "timeline": timeline_rows,
        "closed_by_server": {"count": len(closed), "examples": closed[:5]},
        "stalled": stalled_section,
        # what the stalled clients did to the room: frozen, dropped, absorbing, degraded (accounting.stall_verdict)
        "verdict": stall_verdict(stalled_section, timeline_rows, cfg.duration, counts["reach"]),
        "workers_reported": len(results),
        "load_cpu": {
            "seconds": round(cpu_window, 3),
            "user_s": round(cpu_user, 3),
            "system_s": round(cpu_sys, 3),
            "cores": round(cpu_window / window, 3) if window else None,
            "processes": workers,
        },
    }


def _ms(us: int | None) -> float | None:
    return None if us is None else round(us / 1000, 3)

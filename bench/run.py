"""Benchmark the reference server against the naive one; rewrite the tables in docs/PERFORMANCE.md.

    python bench/run.py                 # what `make bench` runs (about 10 minutes)
    python bench/run.py --reps 3 --duration 10    # shorter (wider spread)
    python bench/run.py --no-write      # print the tables, leave docs/ alone

Each server runs as its own process (bench/serve.py) so that its CPU and
memory can be read from /proc/PID/stat and /proc/PID/status while
`chatlab load` (lab.experiments.load, in worker processes of this one) drives it.  CPU is
counted over the sending window only (not the connection ramp), RSS is the
peak resident set seen during the window.  Every step is bounded in time.

The machine is shared and noisy, so the two servers are measured in
interleaved repetitions (reference, naive, then naive, reference, ...), and
what the tables report first are the *ratios* reference / naive of each
repetition's pair: their median and their spread (min-max).  A ratio taken
from two runs a minute apart cancels most of what the rest of the machine
was doing at that minute; a single number of either server would not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.startup import startup  # noqa: E402
from lab.experiments.load.runner import LoadConfig, run_load  # noqa: E402

DOC = os.path.join(ROOT, "docs", "PERFORMANCE.md")
RESULTS = os.path.join(ROOT, "bench", "results.json")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SMALL_SNDBUF = 4096  # the server's SO_SNDBUF at the stalled point (the kernel doubles it)
SMALL_SEND_QUEUE = 16 * 1024  # the reference's backlog bound at the stalled point (default 64 KiB)
QUIET_PATIENCE_S = 20.0  # longest wait for a quiet machine before each point (the pairs cancel the rest)

POINTS = {
    "small": dict(clients=200, senders=20, rate=5.0, stalled=0, label="200 clients / 20 senders x 5/s"),
    "goal": dict(clients=1000, senders=50, rate=2.0, stalled=0, label="1,000 clients / 50 senders x 2/s"),
    # small buffers and backlog bound, so that the chat lines (about 60 bytes, 7 KB/s to the stalled
    # reader) fill them within about 5 s of sending, and the drop happens inside the window
    "stalled": dict(clients=1000, senders=50, rate=2.0, stalled=1, sndbuf=SMALL_SNDBUF, send_queue=SMALL_SEND_QUEUE,
                    label="1,000 / 50 x 2/s + 1 stalled reader, small send buffer and queue"),
}


# -- the machine -------------------------------------------------------------


def machine() -> dict:
    """CPU model, cores, kernel, Python: printed above every table."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# -- a server process and its /proc numbers ------------------------------------


@dataclass
class Sample:
    wall_ns: int
    cpu_s: float
    rss_kib: int
    machine_busy_s: float  # CPU seconds all programs used (from /proc/stat), for the "other load"


@dataclass
class ServerProcess:
    """A chat server in its own process, sampled from /proc every 0.2 s."""

    kind: str
    sndbuf: int | None = None
    send_queue: int | None = None
    nodelay: int | None = None
    samples: list[Sample] = field(default_factory=list)

    def __enter__(self) -> "ServerProcess":
        cmd = [sys.executable, os.path.join(ROOT, "bench", "serve.py"), "--kind", self.kind]
        if self.sndbuf:
            cmd += ["--sndbuf", str(self.sndbuf)]
        if self.send_queue and self.kind == "reference":
            cmd += ["--send-queue", str(self.send_queue)]
        if self.nodelay is not None:
            cmd += ["--nodelay", str(self.nodelay)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = _readline(self.proc, 20)
        if not line.startswith("LISTENING"):
            self.__exit__(None, None, None)
            raise RuntimeError(f"{self.kind} server did not start: {line!r} {self.proc.stderr.read()[-500:]}")
        _, self.host, port = line.split()
        self.port = int(port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if hasattr(self, "_stop"):
            self._stop.set()
            self._thread.join(2)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        pid = self.proc.pid
        while not self._stop.wait(0.2):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/status") as f:
                    rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            except (OSError, AttributeError):
                return
            cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            self.samples.append(Sample(time.time_ns(), cpu, rss, _machine_busy() / tick))

    def window(self, start_ns: int, end_ns: int) -> tuple[float | None, float | None, int | None]:
        """(server cores, whole-machine busy cores, peak RSS KiB) between two wall-clock times."""
        inside = [s for s in self.samples if start_ns <= s.wall_ns <= end_ns]
        if len(inside) < 2:
            return None, None, None
        seconds = (inside[-1].wall_ns - inside[0].wall_ns) / 1e9
        if not seconds:
            return None, None, None
        cpu = inside[-1].cpu_s - inside[0].cpu_s
        machine = inside[-1].machine_busy_s - inside[0].machine_busy_s
        return cpu / seconds, machine / seconds, max(s.rss_kib for s in inside)


def _machine_busy() -> int:
    """Jiffies all CPUs spent not idle since boot (first line of /proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values) - values[3] - values[4]  # minus idle and iowait


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].strip() if box else ""


# -- one measurement ---------------------------------------------------------


def measure(kind: str, point: str, duration: float, nodelay: int | None = None, rep: int | None = None) -> dict:
    """Run one load point against one server; return a row of the table (``rep``: its repetition)."""
    spec = POINTS[point]
    background = wait_for_quiet()
    with ServerProcess(kind, sndbuf=spec.get("sndbuf"), send_queue=spec.get("send_queue"), nodelay=nodelay) as server:
        cfg = LoadConfig(host=server.host, port=server.port, clients=spec["clients"], senders=spec["senders"],
                         rate=spec["rate"], duration=duration, ramp=max(2.0, spec["clients"] / 250),
                         stalled=spec["stalled"], drain=3.0, idle=1.0)
        report = run_load(cfg)
        cores, machine, rss = server.window(report["window"]["start_ns"], report["window"]["end_ns"])
    load_cores = report["load_cpu"]["cores"] or 0.0
    # what neither the server nor the load generator used: other programs (and interrupts)
    others = None if machine is None else max(0.0, machine - (cores or 0.0) - load_cores)
    return {
        "server": kind, "point": point, "label": spec["label"], "nodelay": nodelay, "rep": rep,
        "deliveries_per_s": report["deliveries_per_s"], "reach": report["reach"],
        "duplicates": report["duplicates"], "out_of_order": report["out_of_order"],
        "p50_ms": report["latency_ms"]["p50"], "p99_ms": report["latency_ms"]["p99"],
        "max_ms": report["latency_ms"]["max"],
        "server_cpu_cores": None if cores is None else round(cores, 2),
        "server_rss_mib": None if rss is None else round(rss / 1024, 1),
        "load_cpu_cores": report["load_cpu"]["cores"],
        "load_read_lag_p99_ms": report["read_lag_ms"]["p99"],
        "connect_failed": report["connect"]["failed"],
        "closed_by_server": report["closed_by_server"]["count"],
        "stalled_dropped": [f"{why}" for _, why in report["stalled"]["dropped"]],
        "receivers_incomplete": report["receivers_incomplete"],
        "background_busy": round(background, 2),
        "others_cores": None if others is None else round(others, 2),
    }


# -- the floor: what one pass to 1,000 members costs --------------------------------


def floor(members: int = 1000) -> dict | None:
    """bench/fanout.py in its own process (it forks): the cost of one pass, raw and through lab.tcp.delivery."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "fanout.py"), "--members", str(members),
                           "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    if done.returncode != 0:
        print(f"bench: fanout.py failed: {done.stderr[-300:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout)


# -- other load on the machine -------------------------------------------------


def busy_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs busy during ``seconds`` (from /proc/stat), before we start anything."""
    def read():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    total0, idle0 = read()
    time.sleep(seconds)
    total1, idle1 = read()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(limit: float = 0.15, patience: float = QUIET_PATIENCE_S) -> float:
    """Wait (at most ``patience`` s) until other programs use under ``limit`` of the CPUs; return the last share."""
    deadline = time.monotonic() + patience
    busy = busy_fraction()
    while busy > limit and time.monotonic() < deadline:
        busy = busy_fraction(2.0)
    return busy


# -- the document ----------------------------------------------------------


def _f(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


RATIO_MEASURES = (  # (row key, label, goal of the ratio reference / naive)
    ("p50_ms", "p50 latency", "<= 1.0"),
    ("p99_ms", "p99 latency", "<= 1.0 (stretch 0.8)"),
    ("server_cpu_cores", "server CPU", "<= 1.0"),
    ("server_rss_mib", "peak RSS", "<= 1.0"),
)


def pairs(rows: list[dict], point: str = "goal") -> list[tuple[dict, dict]]:
    """(reference, naive) rows of the same repetition at ``point``, in repetition order."""
    by_rep: dict = {}
    for r in rows:
        if r["point"] == point and r.get("nodelay") is None:
            by_rep.setdefault(r.get("rep"), {})[r["server"]] = r
    in_order = sorted(by_rep.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    return [(both["reference"], both["naive"]) for _, both in in_order if "reference" in both and "naive" in both]


def ratio_stats(values: list[tuple[float | None, float | None]]) -> tuple[float, float, float] | None:
    """(median, min, max) of a / b over the pairs where both exist and b > 0; None if there are none."""
    ratios = [a / b for a, b in values if a is not None and b]
    if not ratios:
        return None
    return statistics.median(ratios), min(ratios), max(ratios)


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio_table(rows: list[dict]) -> list[str]:
    """The headline: reference / naive at the goal point, per measure, median and spread over the pairs."""
    goal = pairs(rows, "goal")
    if not goal:
        return []
    out = [f"**Reference / naive, every client reading** ({POINTS['goal']['label']}; {len(goal)} interleaved "
           "pairs; a ratio is taken within each pair, then its median and its range are given):", "",
           "| measure | reference (median) | naive (median) | ratio reference / naive (median) "
           "| ratio spread (min-max) | goal |", "|---|---:|---:|---:|---|---|"]
    for key, label, goal_text in RATIO_MEASURES:
        stats = ratio_stats([(ref[key], naive[key]) for ref, naive in goal])
        unit = {"p50_ms": " ms", "p99_ms": " ms", "server_cpu_cores": " cores", "server_rss_mib": " MiB"}[key]
        fmt = "{:.2f}" if key == "server_cpu_cores" else "{:.1f}"
        ref_m, naive_m = _median(r[key] for r, _ in goal), _median(n[key] for _, n in goal)
        out.append(f"| {label} | {_f(ref_m, fmt)}{unit} | {_f(naive_m, fmt)}{unit} "
                   f"| {'-' if stats is None else f'**{stats[0]:.2f}**'} "
                   f"| {'-' if stats is None else f'{stats[1]:.2f}-{stats[2]:.2f}'} | {goal_text} |")
    reach = [min(r["reach"] for r in pair) for pair in goal if all(r["reach"] is not None for r in pair)]
    if reach:
        out.append(f"| reach (lowest of either server) | | | | {min(reach):.3f} | 1.000 |")
    return out


def stalled_table(rows: list[dict]) -> list[str]:
    """With one reader that never reads: does everyone else keep getting everything, and how fast, vs no staller."""
    stalled = [r for r in rows if r["point"] == "stalled"]
    if not stalled:
        return []
    goal_ref = {r.get("rep"): r for r in rows if r["point"] == "goal" and r["server"] == "reference"}
    out = [f"**With a stalled reader** ({POINTS['stalled']['label']}): *reach* counts every client but the "
           "staller; the latency ratio compares the reference's p99 with its own p99 without the staller in the "
           "same repetition (goal: about 1.0, reach 1.000, staller dropped).", "",
           "| server | runs | reach of the others (lowest) | stalled reader | p50 ms (median) | p99 ms (median) "
           "| p99 with / without staller (median) | spread (min-max) |", "|---|---:|---:|---|---:|---:|---:|---|"]
    for kind in ("reference", "naive"):
        mine = [r for r in stalled if r["server"] == kind]
        if not mine:
            continue
        verdicts = sorted({"; ".join(r["stalled_dropped"]) or "not dropped" for r in mine})
        reaches = [r["reach"] for r in mine if r["reach"] is not None]
        stats = None
        if kind == "reference":
            stats = ratio_stats([(r["p99_ms"], goal_ref[r.get("rep")]["p99_ms"])
                                 for r in mine if r.get("rep") in goal_ref])
        froze = kind == "naive" and reaches and min(reaches) < 0.5
        out.append(f"| {kind} | {len(mine)} | {_f(min(reaches) if reaches else None, '{:.3f}')}"
                   f"{' (the room froze)' if froze else ''} | {', '.join(verdicts)} "
                   f"| {_f(_median(r['p50_ms'] for r in mine), '{:.1f}')} | {_f(_median(r['p99_ms'] for r in mine), '{:.1f}')} "
                   f"| {'-' if stats is None else f'{stats[0]:.2f}'} "
                   f"| {'-' if stats is None else f'{stats[1]:.2f}-{stats[2]:.2f}'} |")
    return out


def tables(mach: dict, rows: list[dict], nagle: list[dict], start: list[dict], duration: float,
           passes: list[dict] | None = None, elapsed_s: float | None = None) -> str:
    """The generated part of docs/PERFORMANCE.md (between the bench markers)."""
    passes = [p for p in passes or [] if p]
    one_pass = statistics.median(p["lab"]["pass_ms"] for p in passes) if passes else None
    took = "" if elapsed_s is None else f" The whole bench took {elapsed_s / 60:.1f} minutes."
    out = [BEGIN, "",
           f"Measured {mach['date']} by `make bench` (`python bench/run.py`) on: **{mach['cpu']}**, "
           f"{mach['cores']} cores, Linux {mach['kernel']}, Python {mach['python']}; loopback; "
           f"{duration:g} s of sending per point.{took} The load generator runs on the same cores as the "
           "server, so its own CPU is listed too. Latency is measured to the kernel's receive timestamp "
           "(SO_TIMESTAMPNS), so the load generator's own delay in reading is not counted; at 1,000 clients it "
           "is taken on the senders and every 8th client (spread over the join order, so over the server's "
           "fan-out order), while every client counts reach and order. *Other programs* "
           f"is the CPU the rest of the machine used during the point (the bench waits up to {QUIET_PATIENCE_S:g} s "
           "for a quiet machine before each point); the ratios of a pair share the machine's state, the "
           "single numbers do not.", ""]
    headline = ratio_table(rows)
    if headline:
        out += headline + [""]
    stall = stalled_table(rows)
    if stall:
        out += stall + [""]
    out += ["Every run (*rep* is the repetition; a pair is the reference and the naive row of one repetition):", "",
            "| rep | server | load | deliveries/s | reach | p50 ms | p99 ms | p99 / one pass | max ms | server CPU (cores) "
            "| server RSS MiB | load-gen CPU (cores) | stalled reader | other programs (cores) |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        stalled = "; ".join(r["stalled_dropped"]) or ("not dropped" if r["point"] == "stalled" else "")
        rep = r.get("rep")
        out.append(f"| {'' if rep is None else rep + 1} | {r['server']} | {r['label']} "
                   f"| {_f(r['deliveries_per_s'], '{:,.0f}')} "
                   f"| {_f(r['reach'], '{:.3f}')} | {_f(r['p50_ms'], '{:.1f}')} | {_f(r['p99_ms'], '{:.1f}')} "
                   f"| {_ratio(r, one_pass)} | {_f(r['max_ms'], '{:.1f}')} | {_f(r['server_cpu_cores'], '{:.2f}')} "
                   f"| {_f(r['server_rss_mib'], '{:.0f}')} | {_f(r['load_cpu_cores'], '{:.2f}')} | {stalled} "
                   f"| {_f(r['others_cores'], '{:.2f}')} |")
    if passes:
        raw = statistics.median(p["raw"]["send_us"] for p in passes)
        lab = statistics.median(p["lab"]["send_us"] for p in passes)
        out += ["", f"**One pass** (`bench/fanout.py`, measured {len(passes)} times in this run, median): a line to "
                f"1,000 loopback sockets costs **{one_pass:.1f} ms** through `lab.tcp.delivery` ({lab:.1f} µs per member; "
                f"the bare `send()` loop: {raw:.1f} µs). No message reaches its last recipient sooner than one "
                "pass, so that is the floor under p99 at 1,000 clients; *p99 / one pass* compares each "
                "1,000-client row with it."]
    problems = [r for r in rows if r["duplicates"] or r["out_of_order"] or r["connect_failed"] or r["closed_by_server"]]
    for r in problems:
        out.append(f"\nNote: {r['server']} at {r['label']}: {r['duplicates']} duplicates, {r['out_of_order']} out of "
                   f"order, {r['connect_failed']} failed connections, {r['closed_by_server']} healthy clients closed.")
    if nagle:
        out += ["", "Nagle's algorithm (TCP_NODELAY off vs on) on the naive server (the reference server always "
                "sets TCP_NODELAY), at the first load point:", "",
                "| server | TCP_NODELAY | p50 ms | p99 ms | max ms | reach |", "|---|---|---:|---:|---:|---:|"]
        for r in nagle:
            out.append(f"| {r['server']} | {'on' if r['nodelay'] else 'off'} | {_f(r['p50_ms'], '{:.1f}')} "
                       f"| {_f(r['p99_ms'], '{:.1f}')} | {_f(r['max_ms'], '{:.1f}')} | {_f(r['reach'], '{:.3f}')} |")
    if start:
        out += ["", "Start-up (fresh interpreter, median of 5; the goal is under 0.3 s):", "",
                "| command | median s | max s | heavy modules loaded |", "|---|---:|---:|---|"]
        for r in start:
            out.append(f"| `{r['command']}` | {_f(r['median_s'], '{:.3f}')} | {_f(r['max_s'], '{:.3f}')} "
                       f"| {r['heavy_modules'] or 'none'} |")
    out += ["", END]
    return "\n".join(out)


def _ratio(row: dict, one_pass: float | None) -> str:
    if one_pass is None or row["p99_ms"] is None or not row["label"].startswith("1,000"):
        return ""
    return f"{row['p99_ms'] / one_pass:.1f}"


def write_doc(generated: str) -> None:
    """Replace the text between the bench markers (or append it) in docs/PERFORMANCE.md."""
    text = open(DOC).read() if os.path.exists(DOC) else "# Performance\n\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + generated + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + generated + "\n"
    with open(DOC, "w") as f:
        f.write(text)


def _have_reference() -> bool:
    try:
        from lab.tcp.server import ChatServer, ServerConfig  # noqa: F401
    except Exception:
        return False
    return True


def plan(reps: int, points: list[str], servers: list[str]) -> list[tuple[int | None, str, str]]:
    """The order of the runs: (repetition, point, server).

    The goal point is repeated ``reps`` times with the two servers
    interleaved, the first of each pair alternating (reference, naive, naive,
    reference, ...) so that neither always runs on the machine the other
    just warmed; the reference with a stalled reader follows each pair, to
    compare with the reference's run just before it.  The naive server with
    a stalled reader freezes the room whatever the repetition, so it runs
    once, and the small point once per server (rep None).
    """
    runs: list[tuple[int | None, str, str]] = []
    for rep in range(reps):
        order = servers if rep % 2 == 0 else servers[::-1]
        if "goal" in points:
            runs += [(rep, "goal", kind) for kind in order]
        if "stalled" in points and "reference" in servers:
            runs.append((rep, "stalled", "reference"))
    if "stalled" in points and "naive" in servers:
        runs.append((None, "stalled", "naive"))
    if "small" in points:
        runs += [(None, "small", kind) for kind in servers]
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions of the goal point (default 5)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of sending per point (default 15)")
    parser.add_argument("--servers", default="reference,naive", help="comma-separated: reference,naive")
    parser.add_argument("--points", default="goal,stalled,small", help="comma-separated: goal,stalled,small")
    parser.add_argument("--no-nagle", action="store_true", help="skip the TCP_NODELAY comparison")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timing")
    parser.add_argument("--no-write", action="store_true", help="print the tables, do not touch docs/")
    args = parser.parse_args(argv)
    if not 1 <= args.reps <= 20:
        parser.error("--reps: from 1 to 20")
    began = time.monotonic()
    servers = [s for s in args.servers.split(",") if s]
    if "reference" in servers and not _have_reference():
        print("bench: lab.tcp.server.ChatServer is not available; measuring the naive server only", file=sys.stderr)
        servers.remove("reference")
    points = [p for p in args.points.split(",") if p]
    unknown = [p for p in points if p not in POINTS]
    if unknown:
        parser.error(f"--points: unknown {', '.join(unknown)} (known: {', '.join(POINTS)})")
    mach = machine()
    print(f"bench: {mach['cpu']}, {mach['cores']} cores, Linux {mach['kernel']}, Python {mach['python']}", flush=True)
    rows, nagle = [], []
    passes = [floor()]  # before and after the load points: the machine may change meanwhile
    runs = plan(args.reps, points, servers)
    for number, (rep, point, kind) in enumerate(runs, 1):
        print(f"bench: [{number}/{len(runs)}] {kind} server, {POINTS[point]['label']}"
              f"{'' if rep is None else f', repetition {rep + 1}'} ...", flush=True)
        row = measure(kind, point, args.duration if point != "small" else min(args.duration, 10.0), rep=rep)
        print("   ", json.dumps(row), flush=True)
        rows.append(row)
    if not args.no_nagle:
        # only the naive server can switch TCP_NODELAY off; the reference server always sets it
        for kind in [k for k in servers if k == "naive"]:
            for nodelay in (0, 1):
                print(f"bench: Nagle, {kind} server, TCP_NODELAY={nodelay} ...", flush=True)
                row = measure(kind, "small", min(args.duration, 10.0), nodelay=nodelay)
                print("   ", json.dumps(row), flush=True)
                nagle.append(row)
    start = [] if args.no_startup else startup()
    passes.append(floor())
    elapsed = time.monotonic() - began
    generated = tables(mach, rows, nagle, start, args.duration, passes, elapsed_s=elapsed)
    print(generated)
    if not args.no_write:
        write_doc(generated)
        with open(RESULTS, "w") as f:
            json.dump({"machine": mach, "rows": rows, "nagle": nagle, "startup": start, "one_pass": passes,
                       "elapsed_s": round(elapsed, 1), "reps": args.reps, "duration": args.duration}, f, indent=1)
        print(f"bench: wrote {os.path.relpath(DOC, ROOT)} and {os.path.relpath(RESULTS, ROOT)}")
    print(f"bench: {elapsed / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

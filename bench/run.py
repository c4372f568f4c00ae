"""Benchmark the reference server and the naive one; rewrite the tables in docs/PERFORMANCE.md.

    python bench/run.py                 # what `make bench` runs (~5 minutes)
    python bench/run.py --duration 5    # shorter points (less stable numbers)
    python bench/run.py --servers naive --points goal --no-write

Each server runs as its own process (bench/serve.py) so that its CPU and
memory can be read from /proc/PID/stat and /proc/PID/status while
`chatlab load` (lab.experiments.load, in worker processes of this one) drives it.  CPU is
counted over the sending window only (not the connection ramp), RSS is the
peak resident set seen during the window.  Every step is bounded in time.
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

POINTS = {
    "small": dict(clients=200, senders=20, rate=5.0, stalled=0, label="200 clients / 20 senders x 5/s"),
    "goal": dict(clients=1000, senders=50, rate=2.0, stalled=0, label="1,000 clients / 50 senders x 2/s"),
    "stalled": dict(clients=1000, senders=50, rate=2.0, stalled=1, sndbuf=SMALL_SNDBUF,
                    label="1,000 / 50 x 2/s + 1 stalled reader, small send buffer"),
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
    nodelay: int | None = None
    samples: list[Sample] = field(default_factory=list)

    def __enter__(self) -> "ServerProcess":
        cmd = [sys.executable, os.path.join(ROOT, "bench", "serve.py"), "--kind", self.kind]
        if self.sndbuf:
            cmd += ["--sndbuf", str(self.sndbuf)]
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


def measure(kind: str, point: str, duration: float, nodelay: int | None = None) -> dict:
    """Run one load point against one server; return a row of the table."""
    spec = POINTS[point]
    background = wait_for_quiet()
    with ServerProcess(kind, sndbuf=spec.get("sndbuf"), nodelay=nodelay) as server:
        cfg = LoadConfig(host=server.host, port=server.port, clients=spec["clients"], senders=spec["senders"],
                         rate=spec["rate"], duration=duration, ramp=max(2.0, spec["clients"] / 250),
                         stalled=spec["stalled"], drain=3.0, idle=1.0)
        report = run_load(cfg)
        cores, machine, rss = server.window(report["window"]["start_ns"], report["window"]["end_ns"])
    load_cores = report["load_cpu"]["cores"] or 0.0
    # what neither the server nor the load generator used: other programs (and interrupts)
    others = None if machine is None else max(0.0, machine - (cores or 0.0) - load_cores)
    return {
        "server": kind, "point": point, "label": spec["label"], "nodelay": nodelay,
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


def wait_for_quiet(limit: float = 0.15, patience: float = 90.0) -> float:
    """Wait (at most ``patience`` s) until other programs use under ``limit`` of the CPUs; return the last share."""
    deadline = time.monotonic() + patience
    busy = busy_fraction()
    while busy > limit and time.monotonic() < deadline:
        busy = busy_fraction(2.0)
    return busy


# -- the document ----------------------------------------------------------


def _f(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def tables(mach: dict, rows: list[dict], nagle: list[dict], start: list[dict], duration: float,
           passes: list[dict] | None = None) -> str:
    """The generated part of docs/PERFORMANCE.md (between the bench markers)."""
    passes = [p for p in passes or [] if p]
    one_pass = statistics.median(p["lab"]["pass_ms"] for p in passes) if passes else None
    out = [BEGIN, "",
           f"Measured {mach['date']} by `make bench` (`python bench/run.py`) on: **{mach['cpu']}**, "
           f"{mach['cores']} cores, Linux {mach['kernel']}, Python {mach['python']}; loopback; "
           f"{duration:g} s of sending per point. The load generator runs on the same cores as the "
           "server, so its own CPU is listed too. Latency is measured to the kernel's receive timestamp "
           "(SO_TIMESTAMPNS), so the load generator's own delay in reading is not counted; at 1,000 clients it "
           "is taken on the senders and every 8th client (spread over the join order, so over the server's "
           "fan-out order), while every client counts reach and order. *Other programs* "
           "is the CPU the rest of the machine used during the point (the bench waits up to 90 s for "
           "a quiet machine before each point); numbers taken on a busy machine are not comparable.", "",
           "| server | load | deliveries/s | reach | p50 ms | p99 ms | p99 / one pass | max ms | server CPU (cores) "
           "| server RSS MiB | load-gen CPU (cores) | stalled reader | other programs (cores) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        stalled = "; ".join(r["stalled_dropped"]) or ("not dropped" if r["point"] == "stalled" else "")
        out.append(f"| {r['server']} | {r['label']} | {_f(r['deliveries_per_s'], '{:,.0f}')} "
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending per point (default 20)")
    parser.add_argument("--servers", default="reference,naive", help="comma-separated: reference,naive")
    parser.add_argument("--points", default="small,goal,stalled", help="comma-separated: small,goal,stalled")
    parser.add_argument("--no-nagle", action="store_true", help="skip the TCP_NODELAY comparison")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up timing")
    parser.add_argument("--no-write", action="store_true", help="print the tables, do not touch docs/")
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    if "reference" in servers and not _have_reference():
        print("bench: lab.tcp.server.ChatServer is not available; measuring the naive server only", file=sys.stderr)
        servers.remove("reference")
    mach = machine()
    print(f"bench: {mach['cpu']}, {mach['cores']} cores, Linux {mach['kernel']}, Python {mach['python']}", flush=True)
    rows, nagle = [], []
    passes = [floor()]  # before and after the load points: the machine may change meanwhile
    for point in args.points.split(","):
        for kind in servers:
            print(f"bench: {kind} server, {POINTS[point]['label']} ...", flush=True)
            row = measure(kind, point, args.duration)
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
    generated = tables(mach, rows, nagle, start, args.duration, passes)
    print(generated)
    if not args.no_write:
        write_doc(generated)
        with open(RESULTS, "w") as f:
            json.dump({"machine": mach, "rows": rows, "nagle": nagle, "startup": start, "one_pass": passes}, f,
                      indent=1)
        print(f"bench: wrote {os.path.relpath(DOC, ROOT)} and {os.path.relpath(RESULTS, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

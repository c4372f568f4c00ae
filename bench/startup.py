"""How fast do `chatlab server` and `chatlab client` start?  (The goal: under 0.3 s.)

    python bench/startup.py            # the table
    python bench/startup.py --imports  # also the slowest imports (python -X importtime)

Each measurement is a fresh interpreter running `python -m lab COMMAND --help`,
which imports the command module and parses its options, as a real start
does.  Heavy packages (scapy, Jupyter, matplotlib...) on these paths are the
usual cause of a slow start; the table lists any that got imported.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("scapy", "jupyter", "jupyter_client", "IPython", "ipykernel", "matplotlib", "numpy", "cryptography")


def _heavy_after(module: str) -> str:
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else "(cannot import)"


def startup(repeat: int = 5) -> list[dict]:
    """Median and max wall time of `chatlab server/client --help` in fresh interpreters."""
    rows = []
    for argv, module in ((["-c", "pass"], None), (["-m", "lab", "server", "--help"], "lab.commands.server"),
                         (["-m", "lab", "client", "--help"], "lab.commands.client")):
        times, ok = [], True
        for _ in range(repeat):
            t = time.perf_counter()
            done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, timeout=60)
            times.append(time.perf_counter() - t)
            ok = ok and done.returncode == 0
        times.sort()
        name = "python -c pass (the interpreter alone)" if module is None else "chatlab " + " ".join(argv[2:])
        rows.append({"command": name, "ok": ok, "median_s": round(times[len(times) // 2], 3),
                     "max_s": round(times[-1], 3), "heavy_modules": _heavy_after(module) if module else ""})
    rows.append(_server_listening(repeat))
    rows.append(_imports_of_run("client", "import lab.cli, lab.commands.client, lab.tcp.client, rich.console, rich.text", repeat))
    return rows


def _server_listening(repeat: int) -> dict:
    """Time from exec to the server printing its port (it is listening by then)."""
    import select
    import signal

    times, ok = [], True
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lab", "server", "--host", "127.0.0.1", "--port", "0", "-q"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        seen = ""
        deadline = time.monotonic() + 10
        while "port" not in seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.5)[0]:
                line = proc.stdout.readline()
                if not line:
                    break
                seen += line
        times.append(time.perf_counter() - t)
        ok = ok and "port" in seen
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    times.sort()
    return {"command": "chatlab server (until it prints its port)", "ok": ok,
            "median_s": round(times[len(times) // 2], 3), "max_s": round(times[-1], 3),
            "heavy_modules": _heavy_after("lab.tcp.server")}


def _imports_of_run(command: str, code: str, repeat: int) -> dict:
    """Time to import everything `chatlab COMMAND` imports before it connects."""
    times, ok = [], True
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
        times.append(time.perf_counter() - t)
        ok = ok and done.returncode == 0
    times.sort()
    return {"command": f"chatlab {command} (its imports, up to connect())", "ok": ok,
            "median_s": round(times[len(times) // 2], 3), "max_s": round(times[-1], 3),
            "heavy_modules": _heavy_after(code.removeprefix("import "))}  # the same imports as timed


def slowest_imports(command: str, top: int = 10) -> list[tuple[int, str]]:
    """The slowest imports (cumulative microseconds, module) of `chatlab COMMAND --help`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lab", command, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    found = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+(.*)$", line)
        if m:
            found.append((int(m.group(1)), m.group(2).strip()))
    # top-level packages only (indentation = nesting), slowest first
    return sorted((us, name) for us, name in found if not name.startswith(" "))[::-1][:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imports", action="store_true", help="also list the slowest imports")
    args = parser.parse_args()
    for row in startup():
        flag = "" if row["ok"] else "  (FAILED)"
        print(f"{row['command']:<45} median {row['median_s']:.3f} s  max {row['max_s']:.3f} s"
              f"  heavy: {row['heavy_modules'] or 'none'}{flag}")
    if args.imports:
        for command in ("server", "client"):
            print(f"\nslowest imports of chatlab {command}:")
            for us, name in slowest_imports(command):
                print(f"  {us / 1000:8.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

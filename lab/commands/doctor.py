"""`chatlab doctor`: check this machine for everything the lab needs, with the fix for each problem."""

from __future__ import annotations

import argparse
import shutil
import socket

HELP = "check this machine for everything the lab needs"

# (name, essential?) ; a check returns (ok, detail, fix)


def _grant() -> str:
    from lab.net.privileges import grant_capture_command

    return grant_capture_command() + "  (or run with sudo)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab doctor`: --json only."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _capture():
    from lab.capture.sniffer import capture_problem

    problem = capture_problem("lo")
    if problem is None:
        return True, "raw sockets allowed (root or CAP_NET_RAW)", ""
    return False, problem.split(":")[0], _grant()


def _libpcap():
    import ctypes.util

    name = ctypes.util.find_library("pcap")
    if name:
        return True, f"{name}: port filters run in the kernel (BPF)", ""
    return False, "not found: port filters run in Python (slower)", "sudo apt install libpcap0.8 (Debian/Ubuntu)"


def _loopback():
    """Can this machine open a TCP connection to itself?  Tried for real: a
    listener on 127.0.0.1 and a connect() to it.  (lo's operstate says
    "unknown" on every Linux machine, which tells a student nothing.)"""
    try:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(5)
            with socket.create_connection(listener.getsockname(), timeout=5):
                listener.accept()[0].close()
    except OSError as exc:
        why = "the loopback interface lo is down" if _lo_is_down() else "is a firewall rule dropping it?"
        return False, f"cannot connect to 127.0.0.1 ({exc.strerror or exc}): {why}", "sudo ip link set lo up"
    return True, "127.0.0.1 works: this machine can connect to itself (interface lo)", ""


def _lo_is_down() -> bool:
    """True when lo's IFF_UP flag is clear (Linux; False where unknown).  Asked
    with the SIOCGIFFLAGS ioctl, which answers for this process's network
    namespace (/sys/class/net shows the namespace /sys was mounted in)."""
    try:
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            reply = fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sH14x", b"lo", 0))  # SIOCGIFFLAGS
        return not struct.unpack("16sH14x", reply)[1] & 0x1  # IFF_UP
    except (ImportError, OSError):
        return False


def _tool(name: str, package: str, why: str):
    def check():
        path = shutil.which(name)
        if path:
            return True, f"{path} ({why})", ""
        return False, f"not installed ({why})", f"sudo apt install {package}"
    return check


def _kernel():
    try:
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        return False, "jupyter_client not installed", "pip install -e '.[notebooks]'"
    specs = KernelSpecManager().find_kernel_specs()
    if "chatlab" in specs:
        return True, f"kernelspec 'chatlab' at {specs['chatlab']}", ""
    return False, f"no 'chatlab' kernelspec (have: {', '.join(sorted(specs)) or 'none'})", \
        ".venv/bin/python -m ipykernel install --user --name chatlab"


def _port():
    from lab.chat.limits import DEFAULT_PORT

    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", DEFAULT_PORT))
        return True, f"127.0.0.1:{DEFAULT_PORT} is free (the default chat port)", ""
    except OSError:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        return True, f"{DEFAULT_PORT} is in use; {free} is free", f"use --port {free}, or stop what listens on {DEFAULT_PORT}"


CHECKS = [
    ("packet capture", True, _capture),
    ("libpcap", False, _libpcap),
    ("loopback", True, _loopback),
    ("ip (iproute2)", False, _tool("ip", "iproute2", "network namespaces")),
    ("nft", False, _tool("nft", "nftables", "packet loss experiments")),
    ("tc", False, _tool("tc", "iproute2", "traffic control")),
    ("tcpdump", False, _tool("tcpdump", "tcpdump", "reference captures")),
    ("tshark", False, _tool("tshark", "tshark", "reference analysis")),
    ("jupyter kernel", False, _kernel),
    ("free port", True, _port),
]


def run_checks() -> list[dict]:
    """Every check as a dict: name, essential, ok, detail, fix."""
    results = []
    for name, essential, check in CHECKS:
        try:
            ok, detail, fix = check()
        except Exception as exc:  # a broken check is a failed check, not a crash
            ok, detail, fix = False, f"check failed: {exc}", ""
        results.append({"name": name, "essential": essential, "ok": ok, "detail": detail, "fix": fix})
    return results


def run(args: argparse.Namespace) -> int:
    """Print every check (a table, or --json) with its fix; 0 when every essential check passed, else 1."""
    results = run_checks()
    essential_ok = all(r["ok"] for r in results if r["essential"])
    if args.json:
        import json

        print(json.dumps({"ok": essential_ok, "checks": results}, indent=2))
        return 0 if essential_ok else 1
    from rich.console import Console
    from rich.table import Table

    table = Table(title="chatlab doctor", title_style="bold", expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("what was found", ratio=2, overflow="fold")
    table.add_column("how to fix", ratio=2)
    for r in results:
        mark = "[green]OK[/green]" if r["ok"] else ("[bold red]FAIL[/bold red]" if r["essential"] else "[yellow]warn[/yellow]")
        table.add_row(r["name"] + (" *" if r["essential"] else ""), mark, r["detail"], r["fix"])
    console = Console()
    console.print(table)
    console.print("* essential. " + ("[green]Everything essential is in place.[/green]" if essential_ok else
                  "[bold red]Fix the FAIL lines above.[/bold red] (Without capture permission, "
                  "`chatlab demo` still runs and explains a recorded capture.)"))
    return 0 if essential_ok else 1

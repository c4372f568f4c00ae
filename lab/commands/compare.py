"""`chatlab compare`: the same chat over TCP and UDP through a lossy router."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "TCP vs UDP under loss, on the emulated network"
DESCRIPTION = (
    "Send the same scripted chat over TCP, over UDP, and over UDP made reliable by the kit's own "
    "transfer (exercise 12's algorithm), through a router that drops a share of the packets it "
    "forwards, and count what arrived: lost, duplicated, out of order, latency, datagrams and "
    "retransmissions (on the wire, in TCP_INFO, by the reliable sender). Needs root for the emulated "
    "network; without it the two UDP rows run through lossy relays on loopback and TCP is skipped."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab compare`: loss, messages, seed, interval, --json, --no-capture."""
    from lab.commands import options

    parser.add_argument("--loss", type=options.PERCENT, default=20, metavar="PCT",
                        help="percentage of packets the router drops at each crossing (default 20)")
    parser.add_argument("--messages", type=options.whole("a number of messages", 1, 100_000), default=200,
                        metavar="N", help="messages in the scripted chat, 1-100000 (default 200)")
    parser.add_argument("--seed", type=options.SEED, default=None,
                        help="seed of the loopback relay's loss (the router's nftables loss cannot be seeded)")
    parser.add_argument("--interval", type=options.milliseconds("an interval", 60_000), default=10.0, metavar="MS",
                        help="milliseconds between two messages (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--no-capture", action="store_true", help="do not run the sniffer in the router")


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


ROWS = (("tcp", "TCP"), ("udp", "UDP"), ("reliable", "reliable UDP"))


def _row(results: dict, what) -> list[str]:
    """One cell per protocol: WHAT(half) for the halves that ran, "skipped" for the others."""
    cells = []
    for key, _ in ROWS:
        half = results.get(key)
        if half is None:
            cells.append("-")
        elif "skipped" in half:
            cells.append("skipped")
        else:
            value = what(key, half)
            cells.append("-" if value is None else str(value))
    return cells


def _crossings(half: dict):
    router = half.get("router")
    if router and router.get("forwarded") is not None:
        return f"{router['forwarded']} / {router['dropped']}"
    return None


def render(results: dict) -> None:
    """The rich table for a terminal or a projector: TCP, plain UDP and reliable UDP side by side."""
    from rich.console import Console
    from rich.table import Table

    from lab.experiments.compare.explain import explain

    console = Console()
    console.print(results["note"], markup=False)
    tcp = results["tcp"]
    table = Table(title=f"the same {results['messages']} messages, {results['loss']} % loss per crossing "
                        f"(seed {results['seed']})")
    table.add_column("")
    for _, title in ROWS:
        table.add_column(title, justify="right")
    for key in ("sent", "delivered", "lost", "duplicated", "out_of_order"):
        table.add_row(key.replace("_", " "), *_row(results, lambda _, h, k=key: h.get(k)))
        if key == "lost" and tcp.get("in_flight"):
            table.add_row("still in flight", *_row(results, lambda k, h: h["in_flight"]["messages"] if k == "tcp" else None))
    for mark in ("p50", "p90", "p99", "max"):
        table.add_row(f"latency {mark} (ms)", *_row(results, lambda _, h, m=mark: _ms(h["latency_ms"][m])))
    if any("wire" in results[key] for key, _ in ROWS if key in results):
        table.add_row("packets the router saw", *_row(results, lambda _, h: h.get("wire", {}).get("packets")))
    table.add_row("datagrams the ends sent", *_row(results, lambda k, h: (
        h["datagrams_sent"]["sender"] + h["datagrams_sent"]["receiver"] if k == "reliable" else None)))
    table.add_row("retransmissions on the wire", *_row(results, lambda k, h: {
        "tcp": h.get("retransmissions") if "wire" in h else None, "udp": "none",
        "reliable": h.get("wire", {}).get("retransmissions_from_sender")}[k]))
    ws = tcp.get("wire", {}).get("wireshark") if "skipped" not in tcp else None
    if ws:
        table.add_row("  Wireshark: retransm. + out-of-order", f"{ws['retransmission']} + {ws['out_of_order']}", "", "")
    table.add_row("retransmissions, senders' own count", *_row(results, lambda k, h: {
        "tcp": h.get("retransmissions_tcp_info"), "udp": "none", "reliable": h.get("retransmissions")}[k]))
    if results["mode"] == "netlab":
        table.add_row("router: forwarded / dropped", *_row(results, lambda _, h: _crossings(h)))
    else:
        table.add_row("relays: crossings / dropped", *_row(results, lambda _, h: (
            f"{h['relay']['decisions']} / {h['relay']['dropped']}" if "relay" in h else None)))
    console.print(table)
    for line in explain(results):
        console.print(line, markup=False)


def run(args: argparse.Namespace) -> int:
    """Run the comparison and print its table (or --json); the exit status.

    0 when it ran (whatever was lost: losing is what is measured), 1 when the
    emulated network or a transfer failed, 2 for out-of-range options, 130 on
    Ctrl-C (the emulated network is removed first).  Without root only the two
    UDP rows run, through lossy relays on loopback.
    """
    from lab.experiments.compare import run_compare
    from lab.net.netlab import NetlabError, privilege_problem, sigterm_as_interrupt

    if not 0 <= args.loss <= 100 or not 1 <= args.messages <= 100_000 or args.interval < 0:
        print("chatlab compare: --loss is 0-100, --messages 1-100000, --interval >= 0", file=sys.stderr)
        return 2
    problem = privilege_problem()
    if problem:
        print(f"chatlab compare: no emulated network ({problem}); running the two UDP rows through lossy relays "
              "on loopback instead", file=sys.stderr)
    try:
        with sigterm_as_interrupt():
            results = run_compare(loss=args.loss, messages=args.messages, seed=args.seed,
                                  interval=args.interval / 1000, capture=not args.no_capture)
    except KeyboardInterrupt:
        print("interrupted: the emulated network was removed", file=sys.stderr)
        return 130
    except (NetlabError, RuntimeError, OSError) as exc:
        print(f"chatlab compare: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
    else:
        render(results)
    return 0

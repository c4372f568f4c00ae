"""`chatlab compare`: the same chat over TCP and UDP through a lossy router."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "TCP vs UDP under loss, on the emulated network"
DESCRIPTION = (
    "Send the same scripted chat over TCP and over UDP through a router that drops a share of "
    "the packets it forwards, and count what arrived: lost, duplicated, out of order, latency, "
    "and TCP's retransmissions (on the wire and in TCP_INFO). Needs root for the emulated "
    "network; without it only the UDP half runs, through a lossy relay on loopback."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def render(results: dict) -> None:
    """The rich table for a terminal or a projector."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(results["note"], markup=False)
    tcp, udp = results["tcp"], results["udp"]
    table = Table(title=f"the same {results['messages']} messages, {results['loss']} % loss per router crossing "
                        f"(seed {results['seed']})")
    table.add_column("")
    table.add_column("TCP", justify="right")
    table.add_column("UDP", justify="right")

    def cell(half: dict, key: str) -> str:
        if "skipped" in half:
            return "skipped"
        return str(half.get(key, "-"))

    for key in ("sent", "delivered", "lost", "duplicated", "out_of_order"):
        table.add_row(key.replace("_", " "), cell(tcp, key), cell(udp, key))
    for mark in ("p50", "p90", "p99", "max"):
        table.add_row(f"latency {mark} (ms)",
                      "skipped" if "skipped" in tcp else _ms(tcp["latency_ms"][mark]), _ms(udp["latency_ms"][mark]))
    if "skipped" not in tcp:
        wire = tcp.get("wire", {})
        table.add_row("retransmissions on the wire", str(tcp.get("retransmissions", "-")), "none: UDP never resends")
        ws = wire.get("wireshark")
        if ws:
            table.add_row("  Wireshark: retransm. + out-of-order",
                          f"{ws['retransmission']} + {ws['out_of_order']}", "")
        table.add_row("retransmissions in TCP_INFO", str(tcp.get("retransmissions_tcp_info", "-")), "")
        table.add_row("router: forwarded / dropped",
                      f"{tcp.get('router', {}).get('forwarded')} / {tcp.get('router', {}).get('dropped')}",
                      f"{udp.get('router', {}).get('forwarded')} / {udp.get('router', {}).get('dropped')}")
    elif "relay" in udp:
        table.add_row("relay: datagrams / dropped", "", f"{udp['relay']['decisions']} / {udp['relay']['dropped']}")
    console.print(table)
    share = results["expected_udp_delivery"]
    console.print(f"Each message crosses the router twice (sender -> server -> receiver): UDP should deliver about "
                  f"(1 - {results['loss'] / 100:g})^2 = {share:.0%}; it delivered "
                  f"{udp['delivered']}/{udp['sent']}. UDP never resends, so what is lost stays lost.", markup=False)
    if "skipped" not in tcp:
        console.print(f"TCP delivered {tcp['delivered']}/{tcp['sent']} "
                      f"{'in order' if tcp.get('in_order') else 'NOT in order'}: every lost segment was retransmitted; "
                      f"the price is latency (a message waits behind a lost one: head-of-line blocking).", markup=False)
    else:
        console.print(f"TCP: {tcp['skipped']}", markup=False)


def run(args: argparse.Namespace) -> int:
    from lab.experiments.compare import run_compare
    from lab.net.netlab import NetlabError, privilege_problem, sigterm_as_interrupt

    if not 0 <= args.loss <= 100 or not 1 <= args.messages <= 100_000 or args.interval < 0:
        print("chatlab compare: --loss is 0-100, --messages 1-100000, --interval >= 0", file=sys.stderr)
        return 2
    problem = privilege_problem()
    if problem:
        print(f"chatlab compare: no emulated network ({problem}); running the UDP half through a lossy relay "
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

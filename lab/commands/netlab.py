"""`chatlab netlab up|status|exec|down`: an emulated network in namespaces."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

HELP = "an emulated network of hosts in namespaces, with loss"
DESCRIPTION = (
    "Build a small network of real hosts on this machine (Linux network namespaces): "
    "a server, N clients and a router between them that can drop a share of the packets "
    "it forwards (nftables) and limit the rate (tbf). Needs root."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lab.commands import options
    from lab.net.netlab import MAX_CLIENTS

    sub = parser.add_subparsers(dest="action", metavar="up|status|exec|down", required=True)
    up = sub.add_parser("up", help="create the lab (again: re-apply loss and rate)")
    up.add_argument("--clients", type=options.whole("a number of client hosts", 1, MAX_CLIENTS), default=3,
                    metavar="N", help=f"number of client hosts, 1-{MAX_CLIENTS} (default 3)")
    up.add_argument("--loss", type=options.PERCENT, default=0, metavar="PCT",
                    help="percentage of forwarded packets the router drops, each direction (default 0)")
    up.add_argument("--rate", type=options.TC_RATE, default=None,
                    help="rate limit on each router link, e.g. 1mbit (tbf)")
    up.add_argument("--delay", type=options.milliseconds("a delay", 60_000), default=None, metavar="MS",
                    help="added delay (netem, if the kernel has it)")
    up.add_argument("--reorder", type=options.percent(float), default=None, metavar="PCT",
                    help="reordering (netem, if the kernel has it)")
    status = sub.add_parser("status", help="show hosts, addresses, loss counters and qdiscs")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    ex = sub.add_parser("exec", help="run a command on a host: exec client1 -- ping 10.77.0.2")
    ex.add_argument("host", help="router, server, client1, client2, ...")
    ex.add_argument("argv", nargs=argparse.REMAINDER, help="the command, after --")
    sub.add_parser("down", help="remove the lab and everything in it")
    for p in (up, status, ex, sub.choices["down"]):
        p.add_argument("--prefix", default="chatlab", help="name prefix of the lab's namespaces (default chatlab)")


def _print_status(st: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not any(h["up"] for h in st["hosts"]):
        console.print(f"lab {st['prefix']!r} is down")
        return
    table = Table(title=f"lab {st['prefix']!r} ({'up' if st['up'] else 'INCOMPLETE'})")
    for col in ("host", "namespace", "interface and address"):
        table.add_column(col)
    for h in st["hosts"]:
        table.add_row(h["host"], h["netns"] if h["up"] else f"{h['netns']} (missing)", "\n".join(h["addresses"]))
    console.print(table)
    if st["loss"] is not None:
        line = f"router loss: {st['loss']} % of forwarded packets"
        if st["forwarded"] is not None:
            line += f"; so far {st['forwarded']} forwarded, {st['dropped'] or 0} dropped"
        console.print(line, markup=False)
    for dev, q in st["qdiscs"].items():
        console.print(f"  {dev}: {q}", markup=False)
    if not st.get("netem"):
        console.print("netem (delay/reordering) is not available in this kernel; loss and rate work", markup=False)


def run(args: argparse.Namespace) -> int:
    from lab.net.netlab import Netlab, NetlabError, discover, privilege_problem, sigterm_as_interrupt

    problem = privilege_problem()
    if problem:
        print(f"chatlab netlab: {problem}", file=sys.stderr)
        return 1
    try:
        if args.action == "up":
            net = Netlab(prefix=args.prefix, clients=args.clients, loss=args.loss, rate=args.rate,
                         delay_ms=args.delay, reorder=args.reorder, keep=True)
            with sigterm_as_interrupt():
                try:
                    net.up()
                except KeyboardInterrupt:
                    net.down()
                    print("interrupted: the lab was removed", file=sys.stderr)
                    return 130
            for note in net.notes:
                print(note)
            print(f"lab {net.prefix!r} is up: server {net.address('server')}, "
                  + ", ".join(f"client{k} {net.address(f'client{k}')}" for k in range(1, net.clients + 1))
                  + f"; router loss {net.loss} %")
            print(f"try: chatlab netlab exec client1 -- ping -c 3 {net.address('server')}")
            return 0
        net = discover(args.prefix)
        if args.action == "status":
            st = net.status()
            if args.json:
                print(json.dumps(st))
            else:
                _print_status(st)
            return 0
        if args.action == "down":
            had = net.existing()
            net.down()
            print(f"lab {args.prefix!r} removed ({len(had)} namespaces)" if had else f"lab {args.prefix!r} was not up")
            return 0
        if args.action == "exec":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not argv:
                print("chatlab netlab exec: give a command after --, e.g. exec client1 -- ping -c 3 10.77.0.2",
                      file=sys.stderr)
                return 2
            if net.netns(args.host) not in net.existing():
                print(f"chatlab netlab: host {args.host!r} is not up; run `chatlab netlab up` first", file=sys.stderr)
                return 1
            try:
                return subprocess.call(["ip", "netns", "exec", net.netns(args.host), *argv])
            except KeyboardInterrupt:
                return 130
    except NetlabError as exc:
        print(f"chatlab netlab: {exc}", file=sys.stderr)
        return 1
    return 2

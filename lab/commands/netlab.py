"""`chatlab netlab up|status|exec|down`: an emulated network in namespaces."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from lab.commands import options

HELP = "an emulated network of hosts in namespaces: delay, rate, queue, loss"
DESCRIPTION = (
    "Build a small network of real hosts on this machine (Linux network namespaces): "
    "a server, N clients and a router between them that can delay, rate-limit (tbf, with a finite queue), "
    "lose, reorder and duplicate the packets it forwards, seeded so that a run can be replayed. Needs root."
)


class Duration(options.Value):
    """A duration for ``--delay``: ``40ms``, ``0.04s``, ``500us`` or a bare number of ms (lab.net.shaping reads it)."""

    what = "a duration"
    rule = "a duration is 0-10000 ms: 40ms, 0.04s, 500us, or a number of milliseconds"

    def __call__(self, text: str) -> float:
        from lab.net.shaping import ShapingError, parse_duration_ms

        try:
            value = parse_duration_ms(text)
        except ShapingError:
            value = None
        if value is None or not 0 <= value <= 10_000:
            raise self.fail(text, "is not accepted")
        return value


DURATION = Duration()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The actions of `chatlab netlab` (up, status, measure, exec, down) and their options."""
    from lab.net.netlab import MAX_CLIENTS

    sub = parser.add_subparsers(dest="action", metavar="up|status|measure|exec|down", required=True)
    up = sub.add_parser("up", help="create the lab (again: re-apply its settings)",
                        description="Create the lab. The router can add a delay, limit the rate with a finite "
                                    "queue, lose, reorder and duplicate packets (docs/NETLAB.md).")
    up.add_argument("--clients", type=options.whole("a number of client hosts", 1, MAX_CLIENTS), default=3,
                    metavar="N", help=f"number of client hosts, 1-{MAX_CLIENTS} (default 3)")
    up.add_argument("--delay", type=DURATION, default=None, metavar="TIME",
                    help="one-way delay added in each direction, e.g. 40ms (the round trip grows by twice this)")
    up.add_argument("--rate", type=options.TC_RATE, default=None,
                    help="rate limit of each router link, e.g. 2mbit (tbf)")
    up.add_argument("--queue", type=options.ByteSize("a queue", 2048, 1024**3), default=None, metavar="SIZE",
                    help="the router's queue for the rate limit, e.g. 32kb; full = tail drop "
                         "(default: 100 ms at the rate, at least 8 full-size packets)")
    up.add_argument("--loss", type=options.PERCENT, default=0, metavar="PCT",
                    help="percentage of forwarded packets the router drops, each direction (default 0)")
    up.add_argument("--reorder", type=options.PERCENT, default=0, metavar="PCT",
                    help="percentage of packets held back (--reorder-gap) so that later ones overtake them")
    up.add_argument("--reorder-gap", type=DURATION, default="10ms", metavar="TIME",
                    help="how much longer a reordered packet is held (default 10ms; the kit's TUN stage)")
    up.add_argument("--duplicate", type=options.PERCENT, default=0, metavar="PCT",
                    help="percentage of packets sent twice")
    up.add_argument("--seed", type=options.SEED, default=None,
                    help="replay: the same seed makes the same decisions for the n-th packet of each direction "
                         "(uses the kit's TUN stage)")
    up.add_argument("--stage", choices=("auto", "tun", "netem", "nftables"), default="auto",
                    help="what shapes the traffic: auto (default), tun (the kit's delay stage), netem (the kernel's, "
                         "if it has it), nftables (loss only)")
    status = sub.add_parser("status", help="show hosts, addresses, the stage, its settings and counters")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    measure = sub.add_parser("measure", help="measure the lab: ping and TCP round trips, throughput, stage CPU",
                             description="Measure a lab that is up (client1 -> server): ICMP echo round trips, "
                                         "one bulk TCP transfer (handshake time, goodput, the sender's smoothed "
                                         "RTT), and the CPU the delay stage used per 1,000 packets.")
    measure.add_argument("--bytes", type=options.ByteSize("a transfer size", 1, 1024**3), default=2_000_000,
                         help="size of the TCP transfer (default 2000000)")
    measure.add_argument("--json", action="store_true", help="print one JSON object")
    ex = sub.add_parser("exec", help="run a command on a host: exec client1 -- ping 10.77.0.2")
    ex.add_argument("host", help="router, server, client1, client2, ...")
    ex.add_argument("argv", nargs=argparse.REMAINDER, help="the command, after --")
    sub.add_parser("down", help="remove the lab and everything in it")
    for p in (up, status, measure, ex, sub.choices["down"]):
        p.add_argument("--prefix", default="chatlab", help="name prefix of the lab's namespaces (default chatlab)")


def _print_status(st: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from lab.net.shaping import LinkSettings, describe

    console = Console(highlight=False)
    if not any(h["up"] for h in st["hosts"]):
        console.print(f"lab {st['prefix']!r} is down", markup=False)
        return
    table = Table(title=f"lab {st['prefix']!r} ({'up' if st['up'] else 'INCOMPLETE'})")
    for col in ("host", "namespace", "interface and address"):
        table.add_column(col)
    for h in st["hosts"]:
        table.add_row(h["host"], h["netns"] if h["up"] else f"{h['netns']} (missing)", "\n".join(h["addresses"]))
    console.print(table)
    stage = st.get("stage")
    if not stage:
        return
    name = {"tun": "the kit's TUN delay stage (lab/net/delay_stage.py)", "netem": "the kernel's netem qdisc",
            "nftables": "nftables in the router (loss only, no delay)"}[stage["name"]]
    settings = {k: v for k, v in stage["settings"].items() if k in LinkSettings.__dataclass_fields__}
    console.print(f"stage: {name}", markup=False)
    console.print(f"  {describe(LinkSettings(**settings), stage['name'])}", markup=False)
    if stage["name"] == "tun":
        if not stage.get("running"):
            console.print("  the stage process is NOT running: forwarded packets are dropped; "
                          "run `chatlab netlab up` again", style="bold red", markup=False)
        else:
            console.print(f"  process {stage['pid']}, {stage['cpu_seconds']:.2f} s of CPU so far, "
                          f"{stage['held']} packets held now", markup=False)
    c = stage["counters"]
    rows = [("received by the stage", c.get("received")), ("forwarded", c.get("forwarded")),
            ("dropped by loss", c.get("dropped_loss")), ("dropped by the netem qdisc", c.get("dropped_netem")),
            ("dropped by the full queue (tbf)", c.get("dropped_queue")),
            ("dropped: stage full", c.get("dropped_full") or None), ("reordered", c.get("reordered")),
            ("duplicated", c.get("duplicated"))]
    for label, value in rows:
        if value is not None:
            console.print(f"  {label:<32} {value:>10,}", markup=False)
    for dev, q in st["qdiscs"].items():
        console.print(f"  {dev}: {q or 'no qdisc'}", markup=False)


def _load_settings(net) -> None:
    """Give a discovered lab the settings it was brought up with (kept in the router)."""
    from lab.net.shaping import LinkSettings

    remembered = net.remembered()
    net.active_stage = remembered.get("stage", "nftables")
    known = {k: v for k, v in remembered.items() if k in LinkSettings.__dataclass_fields__}
    net.settings = LinkSettings(**known) if known else net.settings


def _measure_text(r: dict) -> str:
    from lab.net.shaping import format_rate

    c, p, t = r["configured"], r["ping_ms"], r["tcp"]
    lines = [f"configured: {c['round_trip_added_ms']:g} ms added to the round trip, "
             + (f"rate {format_rate(c['rate_bits'])}, queue {c['queue_bytes']:,} bytes, " if c["rate_bits"] else "")
             + f"loss {c['loss']} % ({c['stage']} stage)"]
    if p["answered"]:
        lines.append(f"ping: {p['answered']} of {p['sent']} answered, round trip min {p['min']} ms, "
                     f"median {p['median']} ms, max {p['max']} ms")
    else:
        lines.append(f"ping: none of {p['sent']} echo requests was answered")
    lines.append(f"TCP handshake (connect): {t['handshake_ms']} ms")
    if t["goodput_bits"]:
        lines.append(f"TCP: {t['bytes']:,} bytes in {t['seconds']} s = {format_rate(t['goodput_bits'])} of data"
                     + (f" ({100 * t['goodput_bits'] / c['rate_bits']:.0f} % of the rate)" if c["rate_bits"] else ""))
    lines.append(f"the sender's smoothed RTT at the end (TCP_INFO): {t['srtt_ms']} ms "
                 "(includes the time spent in the router's queue)")
    if t["retransmissions"] is not None:
        lines.append(f"retransmissions (TCP_INFO): {t['retransmissions']}")
    s = r["stage_cpu"]
    if s and s["ms_per_1000_packets"] is not None:
        lines.append(f"delay stage: {s['packets']:,} packets, {s['cpu_seconds']} s of CPU = "
                     f"{s['ms_per_1000_packets']} ms per 1,000 packets")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Do one action on the emulated network; the exit status.

    0 when it was done (exec: the command's own status), 1 without root, when
    the lab is not up or a step failed (one line says which), 2 for exec without
    a command, 130 when Ctrl-C interrupted `up` (the half-built lab is removed).
    """
    from lab.net.netlab import Netlab, NetlabError, discover, privilege_problem, sigterm_as_interrupt
    from lab.net.shaping import describe

    problem = privilege_problem()
    if problem:
        print(f"chatlab netlab: {problem}", file=sys.stderr)
        return 1
    try:
        if args.action == "up":
            net = Netlab(prefix=args.prefix, clients=args.clients, loss=args.loss, rate=args.rate,
                         delay_ms=args.delay, reorder=args.reorder, queue=args.queue,
                         reorder_gap_ms=args.reorder_gap, duplicate=args.duplicate, seed=args.seed,
                         stage=args.stage, keep=True)
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
                  + f"; router: {describe(net.settings, net.active_stage)} ({net.active_stage} stage)")
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
        if args.action == "measure":
            if not net.is_up():
                print(f"chatlab netlab: lab {args.prefix!r} is not up; run `chatlab netlab up` first", file=sys.stderr)
                return 1
            from lab.net.measure import measure

            _load_settings(net)
            try:
                result = measure(net, nbytes=args.bytes)
            except OSError as exc:  # a timeout included: the lab loses too much, or the machine is swamped
                print(f"chatlab netlab measure: the transfer failed ({exc.strerror or exc}); "
                      "try fewer --bytes or less loss", file=sys.stderr)
                return 1
            print(json.dumps(result) if args.json else _measure_text(result))
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

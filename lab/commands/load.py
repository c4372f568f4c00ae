"""`chatlab load`: many clients, paced senders, reach and latency of a chat server."""

from __future__ import annotations

import argparse
import ipaddress

HELP = "a load generator: many clients, paced senders, latency"
STALLED_SIZE = 1000  # --size with --stalled: 20 senders x 2/s then fill a LAN-sized send buffer in ~3 s
DESCRIPTION = """\
Connect many clients to a chat server (yours, or the classroom's), let some of
them send paced messages that each carry a timestamped token, and report how
many reached every other client (reach), duplicates, order per sender, the
send-to-receive latency (p50/p99/max) and the load generator's own CPU, so it
is not mistaken for the server's. It only connects to the HOST you name.

Latency is measured with the wall clock (CLOCK_REALTIME) of this machine, from
just before a sender's send() to the moment the line reached the receiving
socket (the kernel's receive timestamp, SO_TIMESTAMPNS, on Linux; --app-time
for the moment this program read it). The senders and the receivers are both
this load generator, so no clock synchronisation is needed. Above 200 clients,
latency is taken on the senders and every K-th client (--latency-every); the
others are read in bulk every 20 ms and only counted, so that the load
generator leaves the CPU to the server.

--stalled K adds K clients that register and then never read. Their backlog
must reach the server's own code quickly, so they ask for a small receive
buffer (--stalled-rcvbuf) and announce the MSS of an Ethernet LAN (1460
bytes) in their SYN, so that the server's kernel sizes its send buffer for
them as on a classroom network rather than for loopback's 64 KiB segments;
and with --stalled the messages are padded to 1000 bytes unless --size says
otherwise. A good server drops the stalled clients and everyone else gets
everything; a server that blocks in sendall() while holding a lock freezes.
The report ends with that verdict, why, and how to see it.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab load` (every number checked by lab/commands/options.py)."""
    from lab.commands import options
    from lab.experiments.load import runner

    default = runner.LoadConfig()  # the defaults, once
    clients = options.whole("a number of clients", 1, runner.MAX_CLIENTS)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("host", help="the server to load (loopback, or a host you name)")
    parser.add_argument("--port", type=options.PORT, default=default.port,
                        help="its port (default: %(default)s)")
    parser.add_argument("--clients", type=clients, default=default.clients, metavar="N",
                        help="clients to connect (default %(default)s)")
    parser.add_argument("--senders", type=options.whole("a number of senders", 0, clients.high),
                        default=default.senders, metavar="N", help="how many of them send (default %(default)s)")
    parser.add_argument("--rate", type=options.per_second("a rate", runner.MAX_RATE, "messages/s"),
                        default=default.rate, metavar="PER_SECOND",
                        help=f"messages per second per sender (default %(default)g, at most {runner.MAX_RATE:g})")
    parser.add_argument("--duration", type=options.seconds("a duration", runner.MAX_DURATION),
                        default=default.duration, metavar="SECONDS",
                        help=f"seconds of sending (default %(default)g, at most {runner.MAX_DURATION:.0f})")
    parser.add_argument("--ramp", type=options.decimal("a ramp", 0, runner.MAX_RAMP, unit="s"), default=default.ramp,
                        metavar="SECONDS", help="seconds over which the clients connect (default %(default)g)")
    parser.add_argument("--stalled", type=options.whole("a number of stalled clients", 0, runner.MAX_STALLED),
                        default=default.stalled, metavar="K", help="extra clients that never read (default %(default)s)")
    parser.add_argument("--stalled-rcvbuf", type=options.SOCKET_BUFFER, default=default.stalled_rcvbuf,
                        metavar="BYTES", help="SO_RCVBUF of the stalled clients (default %(default)s; Linux doubles it)")
    # A padded message stays below the server's line limit (runner.MAX_SIZE says why).
    parser.add_argument("--size", type=options.whole("a message size", 0, runner.MAX_SIZE, unit="bytes"), default=None,
                        metavar="BYTES", help=f"pad each message to this size, 0-{runner.MAX_SIZE} (default 0; with "
                                              f"--stalled {STALLED_SIZE}, so that the stalled clients' backlog reaches "
                                              "the server within seconds)")
    parser.add_argument("--processes", type=options.whole("a number of processes", 0, runner.MAX_PROCESSES,
                                                          note="0: choose"),
                        default=default.processes, metavar="W",
                        help="worker processes (default: one per ~400 clients, at most one per CPU)")
    parser.add_argument("--latency-every", type=options.whole("a sampling step", 0, clients.high, note="0: choose"),
                        default=default.timed_every, metavar="K",
                        help="time the senders and every K-th client; the others are read in bulk and only "
                             "counted, so the load generator leaves the CPU to the server "
                             f"(default: all up to {runner.AUTO_ALL_TIMED} clients, else about {runner.AUTO_TIMED}; "
                             "1 = every client)")
    parser.add_argument("--app-time", action="store_true",
                        help="measure latency to when this program reads a line, not to when the kernel "
                             "received it (the default on Linux)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run(args: argparse.Namespace) -> int:
    """Load the server and print the report (a table, or --json).

    0 when every message reached every other client once and every client
    connected, 1 otherwise, 2 for a problem with the options or the host, 130
    on Ctrl-C (the workers are stopped).
    """
    import json
    import sys

    from lab.experiments.load.runner import LoadConfig, LoadError, run_load

    cfg = LoadConfig(
        host=args.host, port=args.port, clients=args.clients, senders=args.senders, rate=args.rate,
        duration=args.duration, ramp=args.ramp, stalled=args.stalled, stalled_rcvbuf=args.stalled_rcvbuf,
        size=args.size if args.size is not None else (STALLED_SIZE if args.stalled else 0),
        processes=args.processes, kernel_timestamps=not args.app_time,
        timed_every=args.latency_every,
    )
    console = None
    if not args.json:
        from rich.console import Console

        console = Console(stderr=False)
        if not _is_loopback(args.host):
            console.print(f"[yellow]note: loading {args.host}, which is not this machine; "
                          "only load servers you are allowed to load.[/yellow]")
    progress = (lambda text: console.print(f"[dim]{text}...[/dim]")) if console else None
    try:
        report = run_load(cfg, progress)
    except LoadError as exc:
        print(f"chatlab load: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chatlab load: interrupted; the workers were stopped", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report))
    else:
        from lab.experiments.load.render import render

        render(report, console)
    return 0 if report["reach"] == 1 and report["duplicates"] == 0 and not report["connect"]["failed"] else 1


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""`chatlab relay`: a lossy UDP path on this machine, to try any UDP program against (exercise 12)."""

from __future__ import annotations

import argparse
import sys

HELP = "a lossy UDP relay on this machine: drops, duplicates, reorders, delays"
DESCRIPTION = (
    "Listen on a UDP port and pass every datagram on to --to, and the answers back, losing, duplicating, "
    "reordering and delaying a share of them in both directions. The same --seed makes the same decisions "
    "for the same sequence of datagrams. Stop it with Ctrl-C: it prints what it did."
)


def _address(text: str) -> tuple[str, int]:
    """HOST:PORT, the port checked as every port of chatlab is (lab/commands/options.py)."""
    from lab.commands import options

    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:5001)")
    return host, options.PORT(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab relay` (numbers checked by lab/commands/options.py)."""
    from lab.commands import options

    parser.add_argument("--to", type=_address, required=True, metavar="HOST:PORT",
                        help="where the datagrams go (the receiver, or a server)")
    parser.add_argument("--port", type=options.LISTEN_PORT, default=0,
                        help="the UDP port to listen on (default: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--loss", type=options.percent(float), default=10.0, metavar="PCT",
                        help="percentage of datagrams dropped, each way (default 10)")
    parser.add_argument("--duplicate", type=options.percent(float), default=0.0, metavar="PCT",
                        help="percentage delivered twice (default 0)")
    parser.add_argument("--reorder", type=options.percent(float), default=0.0, metavar="PCT",
                        help="percentage held back 20 ms, so later ones overtake them (default 0)")
    parser.add_argument("--delay", type=options.milliseconds("a delay", 60_000), default=0.0, metavar="MS",
                        help="one-way delay of every datagram (default 0)")
    parser.add_argument("--seed", type=options.SEED, default=None, help="seed of the decisions (default: random)")


def summary(relay) -> str:
    """One line: what the relay did to the datagrams it passed on."""
    return (f"relay: {relay.decisions} datagrams: {relay.drops} dropped, {relay.duplicates} duplicated, "
            f"{relay.reordered} reordered")


def run(args: argparse.Namespace) -> int:
    """Relay datagrams until Ctrl-C or SIGTERM, then print what was dropped, duplicated, reordered.

    0 when stopped by a signal, 2 when the port cannot be bound.  The seed is
    printed at the start, so that a run can be repeated.
    """
    import random
    import threading

    from lab.experiments.compare import Impairments, LossyUdpRelay
    from lab.net.netlab import sigterm_as_interrupt

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    path = Impairments(loss=args.loss, duplicate=args.duplicate, reorder=args.reorder, delay=args.delay / 1000)
    # The SIGTERM handler goes in before anything is announced: a SIGTERM that
    # follows the banner at once must still stop the relay cleanly (exit 0).
    with sigterm_as_interrupt():
        try:
            relay = LossyUdpRelay(args.to, path, seed, host=args.host, port=args.port, enabled=True)
        except OSError as exc:
            print(f"chatlab relay: cannot listen on UDP {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
            return 2
        try:
            host, port = relay.address[:2]
            print(f"relay on {host}:{port} -> {args.to[0]}:{args.to[1]}: {args.loss:g} % lost, {args.duplicate:g} % "
                  f"duplicated, {args.reorder:g} % reordered, {args.delay:g} ms delay, seed {seed}; Ctrl-C to stop",
                  flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            try:
                relay.close()
            except KeyboardInterrupt:  # a second Ctrl-C while closing: the sockets close with the process
                pass
    print(summary(relay), flush=True)
    return 0

"""`chatlab demo`: a scripted chat between three clients, captured and explained packet by packet."""

from __future__ import annotations

import argparse
import os

HELP = "a scripted chat, captured and explained packet by packet"
DESCRIPTION = (
    "Starts a chat server, a packet sniffer on lo and three scripted clients (alice, bob, carol): "
    "three handshakes, a broadcast, a private message, /list, bob leaves with /quit (FIN), carol is "
    "killed with unread data (RST). Prints the annotated packets, ladder diagrams, a summary per "
    "connection and the server's lifecycle log; ends by itself in a few seconds. Without capture "
    "permission (or with --recorded) it explains a capture recorded with the kit instead."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab demo`: --write FILE, --recorded, --width COLUMNS."""
    from lab.commands import options

    parser.add_argument("--write", metavar="FILE", default="chatlab-demo.pcap",
                        help="where to save this run's capture (default: ./chatlab-demo.pcap)")
    parser.add_argument("--recorded", action="store_true",
                        default=bool(os.environ.get("CHATLAB_DEMO_RECORDED")),
                        help="explain the recorded capture even if live capture is possible "
                             "(also: CHATLAB_DEMO_RECORDED=1)")
    parser.add_argument("--width", type=options.whole("a width", 40, 1000, unit="columns"), default=None,
                        metavar="COLUMNS", help="output width, 40-1000 columns (default: the terminal's)")


def run(args: argparse.Namespace) -> int:
    """Run the scripted chat (live, or the recorded capture) and explain it; 130 on Ctrl-C."""
    from lab.experiments.demo import run_demo

    try:
        return run_demo(recorded=args.recorded, write=args.write, width=args.width)
    except KeyboardInterrupt:
        return 130

"""The `chatlab` command line: one subcommand per job.

Each subcommand lives in its own module under ``lab/commands/`` and is only
imported when it is the one being run.  That keeps `chatlab client` and
`chatlab server` fast to start: scapy, Jupyter and other heavy packages are
imported by the commands that need them, never on the chat paths.

A command module provides::

    HELP = "one line shown in `chatlab --help`"
    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...   # the exit status
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lab import __version__

# name -> (module, one-line help).  The help text is repeated here so that
# `chatlab --help` does not have to import every command module.
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("lab.commands.server", "run the chat server (TCP, or --udp)"),
    "client": ("lab.commands.client", "connect to a chat server and chat"),
    "demo": ("lab.commands.demo", "a scripted chat, captured and explained packet by packet"),
    "sniff": ("lab.commands.sniff", "capture the chat's packets and annotate them (live or from a pcap)"),
    "doctor": ("lab.commands.doctor", "check this machine for everything the lab needs"),
    "tls": ("lab.commands.tls", "make a lab certificate authority and server certificate"),
    "netlab": ("lab.commands.netlab", "an emulated network of hosts in namespaces, with loss"),
    "compare": ("lab.commands.compare", "TCP vs UDP under loss, on the emulated network"),
    "relay": ("lab.commands.relay", "a lossy UDP relay on this machine: drops, duplicates, reorders, delays"),
    "load": ("lab.commands.load", "a load generator: many clients, paced senders, latency"),
    "grade": ("lab.commands.grade", "grade the exercises and print a score per exercise"),
    "release": ("lab.commands.release", "build a student copy of the kit without solutions/"),
}


def _available() -> dict[str, tuple[str, str]]:
    """The commands whose module exists in this installation."""
    found = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = (module, help_text)
    return found


def _top_parser(commands: dict[str, tuple[str, str]]) -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<9} {help_text}" for name, (_, help_text) in commands.items())
    parser = argparse.ArgumentParser(
        prog="chatlab",
        description="chat-lab: learn TCP and UDP with a chat you can see on the wire.",
        epilog=f"commands:\n{lines}\n\nRun `chatlab COMMAND --help` for the options of one command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chatlab {__version__}")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    return parser


def command_parser(name: str):
    """The module of subcommand NAME and its argparse parser (what `chatlab NAME ...` parses with)."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"chatlab {name}", description=getattr(module, "DESCRIPTION", help_text))
    module.add_arguments(parser)
    return module, parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one subcommand, return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    if not argv or argv[0].startswith("-"):
        top = _top_parser(commands)
        top.parse_args(argv)  # handles --help and --version, then exits
        top.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    if name not in commands:
        top = _top_parser(commands)
        top.print_usage(sys.stderr)
        print(f"chatlab: unknown command {name!r}; try `chatlab --help`", file=sys.stderr)
        return 2
    module, parser = command_parser(name)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        # Every command handles Ctrl-C itself where it matters; this is the
        # last guard so that a student never sees a traceback for it.
        print("\ninterrupted", file=sys.stderr)
        return 130

"""`chatlab client`: connect to a chat server and chat."""

from __future__ import annotations

import argparse

HELP = "connect to a chat server and chat"
DESCRIPTION = ("Connect to a chat server, choose a name, and chat: one thread shows what arrives while you "
               "type. /help lists the commands; Ctrl-C leaves.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab client` (defaults from lab/chat/limits.py)."""
    from lab.chat.wire import DEFAULT_PORT
    from lab.commands import options

    parser.add_argument("host", nargs="?", default="127.0.0.1", help="server address (default: %(default)s)")
    parser.add_argument("--port", "-p", type=options.PORT, default=DEFAULT_PORT,
                        help="server port, 1-65535 (default: %(default)s)")
    parser.add_argument("--name", "-n", help="your name (asked for if not given)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS (the server runs with --tls)")
    parser.add_argument("--cafile", metavar="FILE",
                        help="CA certificate to trust for --tls: a path, or a file name looked for here and then "
                             "in the lab TLS folder of `chatlab tls init` (default: that folder's ca.pem)")
    parser.add_argument("--insecure", action="store_true",
                        help="with --tls: do not verify the server's certificate (never outside the lab)")
    parser.add_argument("--udp", action="store_true", help="use the UDP variant of the chat")
    parser.add_argument("--events", metavar="FILE", help="also write every lifecycle event as a JSON line to FILE")
    parser.add_argument("-v", "--verbose", action="count", default=1, help="-v logs every chunk of data too")
    parser.add_argument("-q", "--quiet", action="store_true", help="no connection log")


def run(args: argparse.Namespace) -> int:
    """Run `chatlab client`; the exit status."""
    import sys

    from rich.console import Console

    from lab import lifecycle
    from lab.tcp.client import ChatClient
    from lab.terminal import ClientError

    console = Console(highlight=False, markup=False, emoji=False)
    events_file = open(args.events, "a", encoding="utf-8") if args.events else None
    log = lifecycle.EventLog(verbosity=0 if args.quiet else args.verbose, console=console, json_file=events_file)
    interactive = sys.stdin.isatty()

    tls_context = None
    if args.tls and args.udp:
        console.print("chatlab client: --udp cannot be combined with --tls", style="red")
        return 2
    if args.tls:
        from lab.tls import TlsConfigError, client_context

        try:
            tls_context = client_context(cafile=args.cafile, verify=not args.insecure)
        except TlsConfigError as error:
            console.print(f"chatlab client: {error}", style="red")
            return 1

    def ask_name(problem: str) -> str | None:
        if problem:
            console.print(f"!!! {problem}", style="red")
        if not interactive and problem:
            return None
        try:
            return (input("Your name: ") if interactive else sys.stdin.readline()).strip() or None
        except EOFError:
            return None

    if args.udp:
        from lab.udp.client import UdpTerminalClient

        client = UdpTerminalClient(args.host, args.port, console=console, log=log)
    else:
        client = ChatClient(args.host, args.port, console=console, log=log, tls_context=tls_context)
    try:
        client.connect()
        client.register(ask_name, args.name)
    except ClientError as error:
        console.print(f"chatlab client: {error}", style="bold red")
        return 1
    except KeyboardInterrupt:
        console.print("\ncancelled (Ctrl-C)", style="bold")
        return 0
    except (ConnectionResetError, BrokenPipeError):
        console.print("chatlab client: the connection was reset by the server (RST)", style="bold red")
        return 1
    return client.run(interactive)

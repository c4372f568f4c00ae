"""`chatlab server`: run the chat server in this terminal."""

from __future__ import annotations

import argparse

HELP = "run the chat server (TCP, or --udp)"
DESCRIPTION = ("Run the chat server. It binds an address and port, listens, accepts each client on its own "
               "thread and relays every line to the other members. Ctrl-C stops it cleanly.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab server` (defaults from lab/chat/limits.py)."""
    from lab.chat import limits
    from lab.commands import options

    parser.add_argument("--host", default="0.0.0.0",
                        help="address to bind: 0.0.0.0 = every IPv4 interface (the class can connect), "
                             "127.0.0.1 = this machine only, :: = IPv6 and IPv4 (default: %(default)s)")
    parser.add_argument("--port", "-p", type=options.LISTEN_PORT, default=limits.DEFAULT_PORT,
                        help="TCP (or UDP) port, 0-65535; 0 = any free port (default: %(default)s)")
    parser.add_argument("--max-clients", type=options.whole("a number of clients", 1, 100_000),
                        default=limits.MAX_CLIENTS, metavar="N", help="clients at once (default: %(default)s)")
    parser.add_argument("--history", type=options.whole("a history size", 0, 10_000), default=limits.HISTORY_SIZE,
                        metavar="N", help="messages a new member receives (default: %(default)s)")
    parser.add_argument("--send-queue", type=options.QUEUE_BYTES, default=limits.SEND_QUEUE_BYTES, metavar="BYTES",
                        help="output waiting for one slow client before it is dropped, e.g. 65536 or 64K "
                             "(default: %(default)s)")
    parser.add_argument("--sndbuf", type=options.SOCKET_BUFFER, default=None, metavar="BYTES",
                        help="SO_SNDBUF of client sockets, e.g. 4096 or 4K (Linux doubles it); small values "
                             "make a slow reader visible sooner")
    parser.add_argument("--name-timeout", type=options.seconds("a name timeout", 3600),
                        default=limits.NAME_TIMEOUT_S, metavar="SECONDS",
                        help="time a new client has to choose a name (default: %(default)s)")
    parser.add_argument("--rate", type=options.per_second("a rate", 1_000_000, "lines/s"),
                        default=limits.RATE_LINES_PER_S, metavar="PER_SECOND",
                        help="lines per second per client (default: %(default)s)")
    parser.add_argument("--burst", type=options.whole("a burst", 1, 1_000_000), default=limits.BURST_LINES,
                        metavar="LINES",
                        help="lines a client may send at once (default: %(default)s)")
    # Linux refuses a TCP_KEEPIDLE above MAX_TCP_KEEPIDLE = 32767 s (include/net/tcp.h).
    parser.add_argument("--keepalive", type=options.whole("a keepalive idle time", 1, 32767, unit="s"),
                        default=limits.KEEPALIVE_IDLE_S, metavar="SECONDS",
                        help="idle time before TCP keepalive probes start, 1-32767 (default: %(default)s)")
    parser.add_argument("--tls", action="store_true", help="encrypt with TLS (make a certificate with `chatlab tls init`)")
    parser.add_argument("--cert", metavar="FILE",
                        help="server certificate (PEM) for --tls: a path, or a file name looked for here and then "
                             "in the lab TLS folder (default: server.pem from `chatlab tls init`)")
    parser.add_argument("--key", metavar="FILE",
                        help="its private key (PEM), found the same way (default: server-key.pem from "
                             "`chatlab tls init`)")
    parser.add_argument("--udp", action="store_true", help="run the UDP variant of the chat instead of TCP")
    parser.add_argument("--naive", action="store_true",
                        help="run the naive tutorial server (a teaching exhibit: one slow client freezes it)")
    parser.add_argument("--events", metavar="FILE", help="also write every lifecycle event as a JSON line to FILE")
    parser.add_argument("-v", "--verbose", action="count", default=1,
                        help="-v also logs every chunk of data received")
    parser.add_argument("-q", "--quiet", action="store_true", help="log nothing but errors")


def run(args: argparse.Namespace) -> int:
    """Run `chatlab server`; the exit status."""
    import sys

    from rich.console import Console

    from lab import lifecycle

    console = Console(highlight=False, markup=False, emoji=False)
    if args.udp and (args.tls or args.naive):
        console.print("chatlab server: --udp cannot be combined with --tls or --naive", style="red")
        return 2
    verbosity = 0 if args.quiet else args.verbose
    events_file = open(args.events, "a", encoding="utf-8") if args.events else None
    log = lifecycle.EventLog(verbosity=verbosity, console=console, json_file=events_file)
    try:
        if args.udp:
            return _serve_udp(args, log, console)
        if args.naive:
            return _serve_naive(args, console)
        return _serve_tcp(args, log, console)
    finally:
        if events_file:
            events_file.close()
        sys.stdout.flush()


def _serve_tcp(args: argparse.Namespace, log, console) -> int:
    """The reference server (lab/tcp/server.py), plain or TLS."""
    from lab.commands.running import run_until_signal
    from lab.net.addresses import reachable
    from lab.tcp.server import ChatServer, ServerConfig, ServerError

    config = ServerConfig(host=args.host, port=args.port, max_clients=args.max_clients, history=args.history,
                          send_queue=args.send_queue, sndbuf=args.sndbuf, name_timeout=args.name_timeout,
                          rate=args.rate, burst=args.burst, keepalive_idle=args.keepalive)
    if args.tls:
        from lab.tls import TlsConfigError, server_context

        try:
            config.tls = server_context(args.cert, args.key)
        except TlsConfigError as error:
            console.print(f"chatlab server: {error}", style="red")
            return 1
    server = ChatServer(config, log=log)

    def announce() -> None:
        port = server.address[1]
        console.print(f"chat-lab server{' (TLS)' if args.tls else ''} on port {port}. Clients can connect to:",
                      style="bold")
        for where in reachable(args.host, port):
            console.print(f"    {where}")
        example = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        console.print(f"e.g.  chatlab client {example} --port {port}{' --tls' if args.tls else ''}"
                      f"{'' if args.tls else f'     or:  nc {example} {port}'}", style="dim")
        console.print("Ctrl-C stops the server.", style="dim")

    try:
        run_until_signal(server, announce)
    except ServerError as error:
        console.print(f"chatlab server: {error}", style="red")
        return 1
    console.print("server stopped", style="bold")
    return 0


def _serve_naive(args: argparse.Namespace, console) -> int:
    """The tutorial server (lab/tcp/naive_server.py), the exhibit: one plain line per join and leave.

    TCP_NODELAY is on here, unlike in most tutorials, so that the one thing a
    class sees is the lock held across sendall() (the benchmark's Nagle table
    shows the other lesson).
    """
    from lab.commands.running import run_until_signal
    from lab.net.sockopts import explain_bind_error
    from lab.tcp.naive_server import NaiveChatServer

    server = NaiveChatServer(args.host, args.port, lambda message: console.print(message),
                             sndbuf=args.sndbuf, nodelay=True)

    def announce() -> None:
        console.print("NAIVE tutorial server (a teaching exhibit): one client that stops reading freezes the "
                      "whole room.", style="bold red")
        console.print(f"e.g.  chatlab load 127.0.0.1 --port {server.address[1]} --clients 200 --senders 20 "
                      "--stalled 1", style="dim")

    try:
        run_until_signal(server, announce)
    except OSError as error:
        console.print(f"chatlab server --naive: {explain_bind_error(error, args.host, args.port)}", style="red")
        return 1
    console.print("server stopped")
    return 0


def _serve_udp(args: argparse.Namespace, log, console) -> int:
    """The UDP chat (lab/udp/server.py): joins and leaves go to the lifecycle log, with what UDP lacks."""
    from lab import lifecycle as ev
    from lab.commands.running import run_until_signal
    from lab.net.sockopts import explain_bind_error
    from lab.udp import IDLE_TIMEOUT, UdpChatServer

    numbers: dict = {}  # address -> a connection-like number for the log

    def event(kind: str, address, detail: str) -> None:
        who = ev.fmt_addr(address)
        if kind == "joined":
            numbers[address] = len(numbers) + 1
            log.emit(ev.Note(conn=numbers[address], text=f"{who} echoed our cookie: its address is proven, so it "
                                                          "may now receive more than it sent"))
            log.emit(ev.Named(conn=numbers[address], name=detail))
        else:
            log.emit(ev.Note(conn=numbers.get(address), text=f"{who} left ({detail}): no FIN over UDP, the server "
                                                             "just forgets the address"))

    server = UdpChatServer(args.host, args.port, history=args.history, rate=args.rate, burst=args.burst,
                           max_members=args.max_clients, on_event=event)

    def announce() -> None:
        host, port = server.address
        log.emit(ev.Listening(address=(host, port), transport="UDP"))
        console.print(f"chat server on udp {host}:{port}: members are known by their address; silent ones expire "
                      f"after {IDLE_TIMEOUT:g} s. Ctrl-C stops it.", style="bold")
        example = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        console.print(f"e.g.  chatlab client {example} --port {port} --udp     or:  nc -u {example} {port}", style="dim")

    try:
        run_until_signal(server, announce)
    except OSError as error:
        console.print(f"chatlab server --udp: {explain_bind_error(error, args.host, args.port)}", style="red")
        return 1
    stats = server.core.stats
    log.emit(ev.Stopped(reason="Ctrl-C or SIGTERM"))
    console.print(f"server stopped: {stats['datagrams']} datagrams in, {stats['duplicates_dropped']} duplicates "
                  f"dropped, {stats['challenges']} cookie challenges, {stats['hints']} join hints, "
                  f"{stats['too_big']} too big")
    return 0


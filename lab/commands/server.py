"""`chatlab server`: run the chat server in this terminal."""

from __future__ import annotations

import argparse

HELP = "run the chat server (TCP, or --udp)"
DESCRIPTION = ("Run the chat server. It binds an address and port, listens, accepts each client on its own "
               "thread and relays every line to the other members. Ctrl-C stops it cleanly.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `chatlab server` (defaults from lab/chat/limits.py)."""
    from lab.chat import limits

    parser.add_argument("--host", default="0.0.0.0",
                        help="address to bind: 0.0.0.0 = every IPv4 interface (the class can connect), "
                             "127.0.0.1 = this machine only, :: = IPv6 and IPv4 (default: %(default)s)")
    parser.add_argument("--port", "-p", type=int, default=limits.DEFAULT_PORT, help="TCP port (default: %(default)s)")
    parser.add_argument("--max-clients", type=int, default=limits.MAX_CLIENTS, help="clients at once (default: %(default)s)")
    parser.add_argument("--history", type=int, default=limits.HISTORY_SIZE, help="messages a new member receives (default: %(default)s)")
    parser.add_argument("--send-queue", type=int, default=limits.SEND_QUEUE_BYTES, metavar="BYTES",
                        help="output waiting for one slow client before it is dropped (default: %(default)s)")
    parser.add_argument("--sndbuf", type=int, default=None, metavar="BYTES",
                        help="SO_SNDBUF of client sockets (small values make a slow reader visible sooner)")
    parser.add_argument("--name-timeout", type=float, default=limits.NAME_TIMEOUT_S, metavar="SECONDS",
                        help="time a new client has to choose a name (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=limits.RATE_LINES_PER_S, help="lines/s per client (default: %(default)s)")
    parser.add_argument("--burst", type=int, default=limits.BURST_LINES, help="lines a client may send at once (default: %(default)s)")
    parser.add_argument("--keepalive", type=int, default=limits.KEEPALIVE_IDLE_S, metavar="SECONDS",
                        help="idle time before TCP keepalive probes start (default: %(default)s)")
    parser.add_argument("--tls", action="store_true", help="encrypt with TLS (make a certificate with `chatlab tls init`)")
    parser.add_argument("--cert", help="server certificate (PEM) for --tls (default: from `chatlab tls init`)")
    parser.add_argument("--key", help="server private key (PEM) for --tls (default: from `chatlab tls init`)")
    parser.add_argument("--udp", action="store_true", help="run the UDP variant of the chat instead of TCP")
    parser.add_argument("--naive", action="store_true",
                        help="run the naive tutorial server (a teaching exhibit: one slow client freezes it)")
    parser.add_argument("--events", metavar="FILE", help="also write every lifecycle event as a JSON line to FILE")
    parser.add_argument("-v", "--verbose", action="count", default=1,
                        help="-v also logs every chunk of data received")
    parser.add_argument("-q", "--quiet", action="store_true", help="log nothing but errors")


def run(args: argparse.Namespace) -> int:
    """Run `chatlab server`; the exit status."""
    import signal
    import sys

    from rich.console import Console

    from lab import lifecycle
    from lab.net.addresses import reachable

    console = Console(highlight=False, markup=False, emoji=False)
    if args.udp and (args.tls or args.naive):
        console.print("chatlab server: --udp cannot be combined with --tls or --naive", style="red")
        return 2
    verbosity = 0 if args.quiet else args.verbose
    events_file = open(args.events, "a", encoding="utf-8") if args.events else None
    log = lifecycle.EventLog(verbosity=verbosity, console=console, json_file=events_file)

    if args.udp:
        return _serve_udp(args, log, console)
    if args.naive:
        from lab.tcp.naive_server import run_naive_server

        return run_naive_server(args.host, args.port, log=log, console=console, sndbuf=args.sndbuf)

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
    # Ctrl-C (SIGINT) and SIGTERM (kill, systemd, a test) stop the server the
    # same way: the main thread leaves serve_forever() and stops cleanly.
    # Installed explicitly because a shell starts background jobs with
    # SIGINT ignored, and before start(): a signal that comes while the
    # server starts (it already writes events) must stop it cleanly too.
    signal.signal(signal.SIGINT, lambda *_: server.request_stop())
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    try:
        server.start()
    except ServerError as error:
        console.print(f"chatlab server: {error}", style="red")
        return 1
    host, port = server.address
    console.print(f"chat-lab server{' (TLS)' if args.tls else ''} on port {port}. Clients can connect to:", style="bold")
    for where in reachable(args.host, port):
        console.print(f"    {where}")
    example = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    console.print(f"e.g.  chatlab client {example} --port {port}{' --tls' if args.tls else ''}"
                  f"{'' if args.tls else f'     or:  nc {example} {port}'}", style="dim")
    console.print("Ctrl-C stops the server.", style="dim")

    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    console.print("server stopped", style="bold")
    if events_file:
        events_file.close()
    sys.stdout.flush()
    return 0


def _serve_udp(args: argparse.Namespace, log, console) -> int:
    """`chatlab server --udp`: the UDP chat until Ctrl-C or SIGTERM; returns the exit status.

    The log gets a Listening event (transport "UDP"), a Note and a Named
    event per join, a Note per leave, and Stopped; the console the start
    and stop lines.
    """
    import signal
    import threading

    from lab import lifecycle as ev
    from lab.udp import UdpChatServer
    from lab.udp.server_core import IDLE_TIMEOUT

    numbers: dict = {}

    def on_event(kind: str, address, detail: str) -> None:
        who = ev.fmt_addr(address)
        if kind == "joined":
            numbers[address] = len(numbers) + 1
            log.emit(ev.Note(conn=numbers[address], text=f"{who} echoed our cookie: its address is proven, so it "
                                                          "may now receive more than it sent"))
            log.emit(ev.Named(conn=numbers[address], name=detail))
        else:
            log.emit(ev.Note(conn=numbers.get(address), text=f"{who} left ({detail}): no FIN over UDP, the server "
                                                              "just forgets the address"))

    server = UdpChatServer(args.host, args.port, on_event=on_event)
    stop = threading.Event()
    # Ctrl-C and SIGTERM stop the server the same way, installed before start() (see run() for why).
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.start()
    except OSError as error:
        console.print(f"chatlab server: cannot bind udp {args.host}:{args.port}: {error.strerror or error}",
                      style="red")
        return 1
    host, port = server.address
    log.emit(ev.Listening(address=(host, port), transport="UDP"))
    console.print(f"chat server on udp {host}:{port}: members are known by their address; silent ones expire "
                  f"after {IDLE_TIMEOUT:g} s. Ctrl-C stops it.", style="bold")
    example = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    console.print(f"e.g.  chatlab client {example} --port {port} --udp     or:  nc -u {example} {port}", style="dim")
    while not stop.wait(0.25):
        pass
    server.stop()
    stats = server.core.stats
    log.emit(ev.Stopped(reason="Ctrl-C or SIGTERM"))
    console.print(f"server stopped: {stats['datagrams']} datagrams in, {stats['duplicates_dropped']} duplicates "
                  f"dropped, {stats['challenges']} cookie challenges, {stats['hints']} join hints, "
                  f"{stats['too_big']} too big", style="bold")
    return 0

"""Run one chat server in this process, for bench/run.py (which measures its CPU and RSS).

    python bench/serve.py --kind naive|reference [--port 0] [--sndbuf BYTES] [--nodelay 0|1] [--send-queue BYTES]

Prints ``LISTENING HOST PORT`` on stdout once the socket listens, then serves
until SIGTERM or SIGINT.  A separate process, so /proc/PID/stat and
/proc/PID/status describe the server alone, not the load generator.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _reference(args):
    from lab.tcp.server import ChatServer, ServerConfig

    names = {f.name for f in dataclasses.fields(ServerConfig)}
    options = {"host": args.host, "port": args.port}
    wanted = {"sndbuf": args.sndbuf, "nodelay": args.nodelay, "max_clients": 5000, "send_queue": args.send_queue}
    for key, value in wanted.items():
        if value is None:
            continue
        for candidate in (key, f"so_{key}", f"tcp_{key}", f"send_buffer" if key == "sndbuf" else key):
            if candidate in names:
                options[candidate] = value
                break
        else:
            if key != "max_clients":
                print(f"note: ServerConfig has no option for {key}; left at its default", file=sys.stderr)
    return ChatServer(ServerConfig(**options))


def _naive(args):
    from lab.tcp.naive_server import NaiveChatServer

    return NaiveChatServer(args.host, args.port, sndbuf=args.sndbuf, nodelay=bool(args.nodelay))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["naive", "reference"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sndbuf", type=int, default=None)
    parser.add_argument("--nodelay", type=int, choices=[0, 1], default=None)
    parser.add_argument("--send-queue", type=int, default=None,
                        help="the reference server's backlog bound per client (the naive server has none)")
    args = parser.parse_args()
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    except (ValueError, OSError):
        pass
    if args.kind == "naive" and args.nodelay is None:
        args.nodelay = 1
    server = (_naive if args.kind == "naive" else _reference)(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    host, port = server.address[:2]
    print(f"LISTENING {host} {port}", flush=True)
    while not stop.wait(0.2):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

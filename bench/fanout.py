"""What one broadcast costs: 1,000 non-blocking sends of a chat line on loopback.

    python bench/fanout.py [--members 1000] [--rounds 50]

The receivers live in another process (an epoll loop that drains every
socket), so the time measured is the sender's: Python's loop plus the
kernel's work for each ``send()``, which on loopback includes the
receiver's TCP input.  This is the floor under the reference server's
latency at 1,000 members (docs/PERFORMANCE.md).  Bounded: about 15 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import selectors
import socket
import statistics
import time

LINE = b"12:00:00 <s12> ~L 1 12 345 1700000000000000000 hello everyone, how are you?\r\n"


def drain(port: int, members: int, ready, seconds: float) -> None:
    clients = []
    for _ in range(members):
        client = socket.create_connection(("127.0.0.1", port))
        client.setblocking(False)
        clients.append(client)
    ready.set()
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in selector.select(0.1):
            try:
                key.fileobj.recv(65536)
            except BlockingIOError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0), backlog=args.members + 10)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=drain, args=(listener.getsockname()[1], args.members, ready, 30),
                                       daemon=True)
    receiver.start()
    sockets = []
    for _ in range(args.members):
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sockets.append(sock)
    ready.wait(30)
    flags = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
    walls, cpus = [], []
    for _ in range(args.rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for sock in sockets:
            sock.send(LINE, flags)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        time.sleep(0.01)  # let the receiver drain between broadcasts
    receiver.terminate()
    per_send = statistics.median(walls) / args.members * 1e6
    print(f"one broadcast to {args.members} sockets: median {statistics.median(walls) * 1000:.2f} ms wall, "
          f"{statistics.median(cpus) * 1000:.2f} ms CPU; {per_send:.1f} us per send()")


if __name__ == "__main__":
    main()

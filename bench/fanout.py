"""What one pass costs: a chat line to 1,000 members on loopback, the floor under the server's latency.

    python bench/fanout.py [--members 1000] [--rounds 40] [--json]

Two ways, in the same run, on the same sockets:

* ``raw``: the bare loop ``for sock in sockets: sock.send(line, MSG_DONTWAIT)``,
  the least any Python server can do per member;
* ``lab``: the reference server's delivery path (``lab.tcp.delivery``: queue the
  line as one broadcast, then one pass sends it);
* ``lab2``: the same, split over two threads that each make a pass over
  half of the members (``send()`` releases the GIL: does a second core help?).

The receivers live in another process that reads every socket every 20 ms
(as `chatlab load` reads its bulk clients), so the time measured is the
sender's: Python's loop plus the kernel's work for each ``send()``, which on
loopback includes the receiver's TCP input.  A message cannot reach its
last recipient sooner than one pass, so this is the floor under the
reference server's p99 at 1,000 clients (docs/PERFORMANCE.md).  Bounded:
about 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.tcp.delivery import SEND_FLAGS, BacklogWriter, Fanout, Outbox  # noqa: E402

LINE = b"12:00:00 <L1234s12> ~L ab12 12 345 1700000000000000000\r\n"
SWEEP_S = 0.02


def _receive(port: int, members: int, seconds: float) -> None:
    """The receiving side, in a child process: connect, then sweep every socket every 20 ms."""
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(members)]
    for client in clients:
        client.setblocking(False)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(SWEEP_S)
        for client in clients:
            try:
                while len(client.recv(65536)) == 65536:
                    pass
            except (BlockingIOError, ConnectionError):
                pass
    os._exit(0)


def measure(members: int = 1000, rounds: int = 40) -> dict:
    """Median wall and CPU time of one pass to ``members`` sockets, raw and through lab.tcp.delivery."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=members + 16)
    port = listener.getsockname()[1]
    seconds = 5 + rounds * 3 * 3 * 0.03
    child = os.fork()
    if child == 0:  # no threads exist yet in this process: fork is safe
        listener.close()
        _receive(port, members, seconds)
    sockets, writer = [], BacklogWriter()
    try:
        for _ in range(members):
            sock, _ = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sockets.append(sock)
        writer.start()
        fanout = Fanout()
        outboxes = [Outbox(sock, writer, 64 * 1024, fanout, lambda: None) for sock in sockets]
        for outbox in outboxes:
            fanout.join(outbox)
        time.sleep(0.3)

        def raw() -> None:
            for sock in sockets:
                sock.send(LINE, SEND_FLAGS)

        def lab() -> None:
            fanout.broadcast(LINE)
            fanout.deliver()

        halves = [(Fanout(), outboxes[0::2]), (Fanout(), outboxes[1::2])]
        for half_fanout, half in halves:
            for outbox in half:
                outbox.fanout = half_fanout
                outbox.joined = False  # (it joined the whole fanout above; this half is its own room)
                half_fanout.join(outbox)
        go = [threading.Event(), threading.Event()]
        done = threading.Barrier(3, timeout=10)

        def lane(number: int) -> None:
            half_fanout, half = halves[number]
            while go[number].wait():
                go[number].clear()
                half_fanout.broadcast(LINE)
                half_fanout.deliver()
                done.wait()

        lanes = [threading.Thread(target=lane, args=(n,), daemon=True) for n in (0, 1)]
        for thread in lanes:
            thread.start()

        def lab2() -> None:
            go[0].set()
            go[1].set()
            done.wait()

        timings: dict[str, tuple[list[float], list[float]]] = {"raw": ([], []), "lab": ([], []), "lab2": ([], [])}
        for _ in range(3):  # interleaved, so all see the same machine
            for name, one_pass in (("raw", raw), ("lab", lab), ("lab2", lab2)):
                walls, cpus = timings[name]
                for _ in range(rounds):
                    wall, cpu = time.perf_counter(), time.process_time()
                    one_pass()
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                    time.sleep(SWEEP_S / 2)  # let the receivers keep up
        result = {"members": members}
        for name, (walls, cpus) in timings.items():
            result[name] = {
                "pass_ms": round(statistics.median(walls) * 1000, 2),
                "pass_cpu_ms": round(statistics.median(cpus) * 1000, 2),
                "send_us": round(statistics.median(walls) / members * 1e6, 2),
            }
        return result
    finally:
        writer.stop()
        for sock in sockets:
            sock.close()
        listener.close()
        try:
            os.kill(child, 9)
        except ProcessLookupError:
            pass
        os.waitpid(child, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()
    result = measure(args.members, args.rounds)
    if args.json:
        print(json.dumps(result))
        return
    for name, label in (("raw", "raw"), ("lab", "lab"), ("lab2", "lab, 2 threads")):
        r = result[name]
        print(f"{label}: one pass to {args.members} sockets: median {r['pass_ms']:.2f} ms wall, "
              f"{r['pass_cpu_ms']:.2f} ms CPU; {r['send_us']:.1f} us per member")


if __name__ == "__main__":
    main()

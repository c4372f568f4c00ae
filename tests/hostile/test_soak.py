"""A bounded soak: many clients come and go (some by RST) while senders post.

Checks the promises that matter under churn: every message reaches every
member present exactly once and in its sender's order, /list stays
consistent, and nothing is left behind (threads, file descriptors).
"""

from __future__ import annotations

import os
import random
import re
import socket
import struct
import threading
import time

import pytest

from lab.lifecycle import EventLog
from lab.tcp.server import ChatServer, ServerConfig
from tests.helpers.chat import LineClient

SENDERS = 10
MESSAGES = 60  # per sender
TRANSIENTS = 200
MESSAGE = re.compile(r"<(s\d+)> (\d+)$")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def per_sender(lines):
    seqs: dict[str, list[int]] = {}
    for line in lines:
        match = MESSAGE.search(line)
        if match:
            seqs.setdefault(match.group(1), []).append(int(match.group(2)))
    return seqs


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_churn_while_senders_post(tmp_path):
    threads_before, fds_before = threading.active_count(), open_fds()
    server = ChatServer(ServerConfig(host="127.0.0.1", port=0, rate=10_000, burst=1000), log=EventLog(verbosity=0))
    server.start()
    port = server.address[1]
    watchers = [LineClient(port, f"w{i}") for i in range(3)]
    senders = [LineClient(port, f"s{i}") for i in range(SENDERS)]
    problems: list[str] = []
    rng = random.Random(7)

    def send_all(client):
        for seq in range(MESSAGES):
            client.send(str(seq))
            time.sleep(0.01)

    def churn(worker: int):
        for n in range(TRANSIENTS // 4):
            name = f"t{worker}x{n}"
            try:
                client = LineClient(port, name)
                lines = client.lines(rng.uniform(0.005, 0.05))
                for sender, seqs in per_sender(lines).items():
                    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                        problems.append(f"{name} got {sender}'s messages with a gap, duplicate or reorder: {seqs}")
                way = n % 3
                if way == 0:
                    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.sock.close()  # RST
                elif way == 1:
                    client.send("/quit")
                    client.sock.close()
                else:
                    client.sock.close()  # FIN
            except (AssertionError, OSError) as error:
                problems.append(f"{name}: {error}")

    workers = [threading.Thread(target=send_all, args=(s,)) for s in senders]
    workers += [threading.Thread(target=churn, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(90)
    assert not problems, "\n".join(problems[:10])

    for watcher in watchers:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lines += watcher.lines(0.3)
            if sum(len(v) for v in per_sender(lines).values()) >= SENDERS * MESSAGES:
                break
        got = per_sender(lines)
        for sender in (f"s{i}" for i in range(SENDERS)):
            assert got.get(sender) == list(range(MESSAGES)), f"{sender} -> watcher: {got.get(sender)}"
        joins = sum(" joined" in line and "*** t" in line for line in lines)
        leaves = sum(" left (" in line and "*** t" in line for line in lines)
        assert joins == leaves == TRANSIENTS, f"every transient joined and left exactly once ({joins}, {leaves})"

    watchers[0].send("/list")
    online = watchers[0].expect(r"--- list:")
    assert online.split(": ", 1)[1].startswith(f"{3 + SENDERS} online")

    for client in watchers + senders:
        client.close()
    deadline = time.monotonic() + 10
    while server.connection_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    deadline = time.monotonic() + 10
    while (threading.active_count() > threads_before or open_fds() > fds_before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == threads_before, [t.name for t in threading.enumerate()]
    assert open_fds() <= fds_before, "every socket the server opened is closed"

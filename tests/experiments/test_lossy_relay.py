"""The lossy UDP relay on loopback (lab/experiments/compare/lossy_relay.py) and `chatlab relay`, on real sockets.

Every wait is for a condition with a deadline: the relay counts the copies it
handed to the kernel (``passed``), so a test knows how many datagrams must
arrive and reads until they have.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from lab.experiments.compare import Impairments, LossyUdpRelay, PathDecision
from tests.helpers.waiting import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _udp(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    return sock


def _read(sock: socket.socket, count: int, timeout: float = 10.0) -> list[bytes]:
    """Exactly COUNT datagrams from SOCK (fails after TIMEOUT)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {count} datagrams arrived"
        if select.select([sock], [], [], left)[0]:
            got.append(sock.recvfrom(2048)[0])
    return got


def _through(impairments: Impairments, seed: int, n: int = 300) -> list[bytes]:
    """Send N numbered datagrams through a relay; return what the far end received, in order of arrival.

    In batches: 300 datagrams sent at once would overflow the relay's socket
    buffer, and the kernel would drop some before the relay ever saw them.
    """
    server = _udp()
    client = _udp()
    got: list[bytes] = []
    with contextlib.closing(server), contextlib.closing(client), \
            LossyUdpRelay(server.getsockname(), impairments, seed, enabled=True) as relay:
        for start in range(0, n, 50):
            for i in range(start, min(n, start + 50)):
                client.sendto(b"%04d" % i, relay.address)
            wait_for(lambda: relay.decisions == min(n, start + 50), "the relay to see every datagram")
            wait_for(lambda: not relay.held, "held-back datagrams to leave")
            got += _read(server, relay.passed - len(got))
    return got


def test_the_same_seed_makes_the_same_decisions():
    path = Impairments(loss=20, duplicate=10)
    first, again, other = _through(path, 7), _through(path, 7), _through(path, 8)
    assert sorted(first) == sorted(again)
    assert sorted(first) != sorted(other)
    fates = PathDecision(path, 7, "0:up")
    expected = []
    for i in range(300):
        fate = fates.next()
        expected += [b"%04d" % i] * fate.copies
    assert sorted(first) == expected  # exactly what the decisions said, datagram by datagram


def test_held_back_datagrams_are_overtaken():
    path = Impairments(reorder=50, reorder_delay=2.0)
    fates = PathDecision(path, 3, "0:up")
    held = [fates.next().delay > 0 for _ in range(20)]
    first_held = held.index(True)
    server, client = _udp(), _udp()
    with contextlib.closing(server), contextlib.closing(client), \
            LossyUdpRelay(server.getsockname(), path, 3, enabled=True) as relay:
        for i in range(first_held + 2):
            client.sendto(b"%d" % i, relay.address)
            wait_for(lambda: relay.decisions == i + 1, f"the relay to decide datagram {i}")
        order = _read(server, first_held + 2)
    assert order.index(b"%d" % first_held) > order.index(b"%d" % (first_held + 1)) or held[first_held + 1]


def test_answers_go_back_to_the_right_client_and_clients_keep_their_own_address():
    server, alice, bob = _udp(), _udp(), _udp()
    with contextlib.closing(server), contextlib.closing(alice), contextlib.closing(bob), \
            LossyUdpRelay(server.getsockname(), 0, 1, enabled=True, record=True) as relay:
        server.settimeout(5)
        alice.sendto(b"from alice", relay.address)
        data, a_src = server.recvfrom(2048)
        bob.sendto(b"from bob", relay.address)
        data2, b_src = server.recvfrom(2048)
        assert (data, data2) == (b"from alice", b"from bob") and a_src != b_src
        sources = {data: a_src, data2: b_src}
        server.sendto(b"to bob", sources[b"from bob"])
        server.sendto(b"to alice", sources[b"from alice"])
        assert _read(bob, 1) == [b"to bob"] and _read(alice, 1) == [b"to alice"]
        flows = [flow for flow, _ in relay.record]
        assert flows[:2] == ["0:up", "1:up"] and sorted(flows[2:]) == ["0:down", "1:down"]


def test_disabled_relay_passes_everything_untouched():
    server, client = _udp(), _udp()
    with contextlib.closing(server), contextlib.closing(client), \
            LossyUdpRelay(server.getsockname(), 100, 1) as relay:
        for i in range(50):
            client.sendto(b"%d" % i, relay.address)
        assert _read(server, 50) == [b"%d" % i for i in range(50)]
        assert relay.decisions == 0 and relay.drops == 0


def test_a_server_that_is_not_listening_yet_loses_datagrams_quietly():
    probe = _udp()
    port = probe.getsockname()[1]
    probe.close()
    client = _udp()
    with contextlib.closing(client), LossyUdpRelay(("127.0.0.1", port), 0, 1, enabled=True) as relay:
        client.sendto(b"too early", relay.address)
        wait_for(lambda: relay.passed == 1, "the relay to pass the first datagram on")
        with contextlib.closing(_udp(port)) as server:
            client.sendto(b"on time", relay.address)
            assert _read(server, 1) == [b"on time"]
        assert relay._thread.is_alive()


# -- chatlab relay ---------------------------------------------------------------------------

def test_chatlab_relay_forwards_and_says_what_it_did():
    server, client = _udp(), _udp()
    with contextlib.closing(server), contextlib.closing(client):
        port = server.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "lab", "relay", "--to", f"127.0.0.1:{port}", "--loss", "0",
                                 "--duplicate", "100", "--seed", "5"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            banner = proc.stdout.readline()
            assert banner.startswith("relay on 127.0.0.1:") and "seed 5" in banner, banner
            relay_port = int(banner.split()[2].split(":")[1])
            client.sendto(b"hello", ("127.0.0.1", relay_port))
            assert _read(server, 2) == [b"hello", b"hello"]  # 100 % duplicated
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "relay: 1 datagrams: 0 dropped, 1 duplicated, 0 reordered"


@pytest.mark.parametrize("argv, says", [
    (["--to", "nowhere"], "is not HOST:PORT"),
    (["--to", "127.0.0.1:5001", "--loss", "120"], "a percentage is 0-100"),
    (["--to", "127.0.0.1:70000"], "a port is 1-65535"),
])
def test_chatlab_relay_refuses_bad_options_in_one_line(argv, says):
    proc = subprocess.run([sys.executable, "-m", "lab", "relay", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr


def test_chatlab_relay_on_a_port_in_use():
    with contextlib.closing(_udp()) as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "lab", "relay", "--to", "127.0.0.1:5001", "--port", str(port)],
                              cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"chatlab relay: cannot listen on UDP 127.0.0.1:{port}: Address already in use"


def test_the_graded_runs_of_exercise_12_meet_every_impairment():
    """The seeds of exercise 12's graded runs: the first 20 datagrams each way meet each impairment they claim."""
    from tests.graded.test_ex12_reliable import RUNS

    for name, (path, seed, _) in RUNS.items():
        for flow in ("0:up", "0:down"):
            decide = PathDecision(path, seed, flow)
            fates = [decide.next() for _ in range(20)]
            assert any(f.copies == 2 for f in fates) and any(f.delay > 0 for f in fates), (name, flow)
            assert path.loss == 0 or any(f.dropped for f in fates), (name, flow)

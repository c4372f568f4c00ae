"""The emulated network: comes up, loses what it should, leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers.unprivileged import as_unprivileged, explains_privileges

from lab.net.netlab import NFT_TABLE, Netlab, NetlabError, list_namespaces, loss_ruleset, parse_loss_ruleset


def _unique(tag: str) -> str:
    return f"t{tag}{os.getpid() % 100000}"


def _leftovers(prefix: str) -> list[str]:
    """Namespaces, links and nft tables of ``prefix`` anywhere on the machine."""
    found = [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [l for l in links.splitlines() if "to-client" in l or "to-server" in l]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    # Our table lives in the router namespace only; one in the machine's own
    # namespace would be a leak.  (Other tests may have tables of other names.)
    found += [t for t in tables.splitlines() if t.strip() == f"table inet {NFT_TABLE}"]
    return found


# -- no privileges needed ---------------------------------------------------

def test_loss_ruleset_round_trip():
    script = loss_ruleset(20)
    assert "numgen random mod 100 < 20" in script and "hook forward" in script
    listed = ('counter packets 10 bytes 840 comment "forwarded"\n'
              "numgen random mod 100 < 20 counter packets 2 bytes 168 drop")
    assert parse_loss_ruleset(listed) == {"loss": 20, "seen": 10, "dropped": 2}


@pytest.mark.parametrize("bad", [-1, 101])
def test_loss_out_of_range_is_refused(bad):
    with pytest.raises(NetlabError):
        Netlab(prefix="x", loss=bad)


def test_addresses_are_per_link():
    net = Netlab(prefix="addr", clients=2)
    assert net.address("server") == "10.77.0.2"
    assert net.address("client2") == "10.77.2.2"
    with pytest.raises(NetlabError):
        net.address("client3")


def test_without_root_says_why_and_fails():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(as_unprivileged([sys.executable, "-m", "lab", "netlab", "up"], root),
                          capture_output=True, text=True, timeout=30, cwd=root)
    assert proc.returncode == 1
    assert explains_privileges(proc.stderr) and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- privileged -------------------------------------------------------------

@pytest.fixture
def prefix():
    name = _unique("n")
    yield name
    Netlab(prefix=name, clients=1).down()  # whatever the test did
    assert _leftovers(name) == []


@pytest.mark.privileged
def test_up_twice_status_down_leaves_nothing(prefix):
    net = Netlab(prefix=prefix, clients=2, loss=10, rate="10mbit")
    net.up()
    net.up()  # idempotent
    st = net.status()
    assert st["up"] and st["loss"] == 10
    assert {h["host"] for h in st["hosts"] if h["up"]} == {"router", "server", "client1", "client2"}
    assert any("tbf" in q for q in st["qdiscs"].values())
    # the hosts reach each other through the router; without loss for the
    # probe, so that a dropped SYN or RST cannot fail it by chance (10 %
    # each way lost the probe in about 1 run in 30)
    net.set_loss(0)
    probe = net.exec("client1", [sys.executable, "-c", "import socket; s=socket.create_connection(('10.77.0.2', 9), 2)"])
    assert "Connection refused" in probe.stderr  # an RST came back from the server host: routed both ways
    net.down()
    net.down()  # idempotent
    assert _leftovers(prefix) == []


def _udp_probe(net: Netlab, count: int) -> int:
    """Send ``count`` datagrams client1 -> server; return how many arrived."""
    with net.inside("server"):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((net.address("server"), 0))
        # A big receive buffer (root may force it past rmem_max): on a busy
        # machine the socket must not drop datagrams; only the router may.
        rx.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)
    with net.inside("client1"):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got = set()

    def drain(wait: float) -> None:
        rx.settimeout(wait)
        while True:
            try:
                got.add(int(rx.recv(64)))
            except (socket.timeout, BlockingIOError):
                return

    try:
        for i in range(count):
            tx.sendto(str(i).encode(), rx.getsockname())
            if i % 20 == 19:
                # Read as we go: a full receive buffer would drop datagrams
                # too, and the loss we measure must come from the router only.
                drain(0.005)
        drain(0.5)
    finally:
        rx.close()
        tx.close()
    return len(got)


@pytest.mark.privileged
def test_loss_is_statistically_present(prefix):
    count = 600
    with Netlab(prefix=prefix, clients=1, loss=20) as net:
        arrived = _udp_probe(net, count)
        st = net.status()
    # Binomial(600, 0.8): mean 480, sd ~9.8; +-6 sd essentially never flakes.
    assert 421 <= arrived <= 539, arrived
    assert st["dropped"] == count - arrived  # the router's counter agrees with what we saw


@pytest.mark.privileged
def test_no_loss_means_everything_arrives(prefix):
    with Netlab(prefix=prefix, clients=1, loss=0) as net:
        assert _udp_probe(net, 200) == 200


@pytest.mark.privileged
def test_cleanup_after_an_exception(prefix):
    with pytest.raises(RuntimeError):
        with Netlab(prefix=prefix, clients=2) as net:
            net.popen("client2", ["sleep", "30"])
            raise RuntimeError("boom")
    assert _leftovers(prefix) == []


@pytest.mark.privileged
def test_failure_half_way_cleans_up(prefix):
    net = Netlab(prefix=prefix, clients=2, rate="not-a-rate")
    with pytest.raises(NetlabError):
        net.up()
    assert _leftovers(prefix) == []


@pytest.mark.privileged
def test_cli_up_status_exec_down(prefix):
    def chatlab(*argv):
        return subprocess.run([sys.executable, "-m", "lab", "netlab", *argv, "--prefix", prefix]
                              if argv[0] != "exec" else
                              [sys.executable, "-m", "lab", "netlab", "exec", "--prefix", prefix, *argv[1:]],
                              capture_output=True, text=True, timeout=60)

    up = chatlab("up", "--loss", "5", "--delay", "10")
    assert up.returncode == 0, up.stderr
    assert "netem" in up.stdout or "netem" not in up.stdout  # says so only when the kernel lacks it
    st = chatlab("status", "--json")
    assert '"loss": 5' in st.stdout
    ex = chatlab("exec", "client1", "--", "ip", "-o", "-4", "addr", "show", "eth0")
    assert ex.returncode == 0 and "10.77.1.2" in ex.stdout
    down = chatlab("down")
    assert down.returncode == 0
    assert _leftovers(prefix) == []


@pytest.mark.privileged
def test_ctrl_c_during_up_leaves_nothing(prefix):
    proc = subprocess.Popen([sys.executable, "-m", "lab", "netlab", "up", "--clients", "40", "--prefix", prefix],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(ns.startswith(prefix + "-") for ns in list_namespaces()):
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)  # half way through building 42 namespaces
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "removed" in err and "Traceback" not in err
    assert _leftovers(prefix) == []

"""The emulated network: comes up, loses what it should, leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers.unprivileged import as_unprivileged, explains_privileges

from lab.net.netlab import (NFT_TABLE, Netlab, NetlabError, list_namespaces, loss_ruleset, netem_available,
                            parse_loss_ruleset)


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


def _udp_probe(net: Netlab, count: int, size: int = 0, pace: int = 20) -> set[int]:
    """Send ``count`` numbered datagrams client1 -> server (``size`` bytes at least); return the numbers that arrived.

    The sender pauses to read every ``pace`` datagrams (None: send them all at once).
    """
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
                got.add(int(rx.recv(65536)))
            except (socket.timeout, BlockingIOError):
                return

    try:
        for i in range(count):
            tx.sendto(str(i).encode().ljust(size), rx.getsockname())
            if pace and i % pace == pace - 1:
                # Read as we go: a full receive buffer would drop datagrams
                # too, and the loss we measure must come from the router only.
                drain(0.005)
        drain(0.5)
    finally:
        rx.close()
        tx.close()
    return got


@pytest.mark.privileged
def test_loss_is_statistically_present(prefix):
    count = 600
    with Netlab(prefix=prefix, clients=1, loss=20) as net:
        arrived = len(_udp_probe(net, count))
        st = net.status()
    # Binomial(600, 0.8): mean 480, sd ~9.8; +-6 sd essentially never flakes.
    assert 421 <= arrived <= 539, arrived
    assert st["dropped"] == count - arrived  # the router's counter agrees with what we saw


def test_loss_ruleset_of_100_percent_drops_everything_and_reads_back():
    # nft refuses "numgen random mod 100 < 100": 100 % is a plain drop rule
    assert "numgen" not in loss_ruleset(100) and "counter drop" in loss_ruleset(100)
    listed = ('counter packets 10 bytes 840 comment "forwarded"\n'
              'counter packets 10 bytes 840 drop comment "loss 100"')
    assert parse_loss_ruleset(listed) == {"loss": 100, "seen": 10, "dropped": 10}


@pytest.mark.privileged
def test_a_loss_of_100_percent_lets_nothing_through(prefix):
    with Netlab(prefix=prefix, clients=1, loss=0) as net:
        net.set_loss(100)
        assert len(_udp_probe(net, 50)) == 0
        assert net.status()["dropped"] == 50


@pytest.mark.privileged
def test_no_loss_means_everything_arrives(prefix):
    with Netlab(prefix=prefix, clients=1, loss=0) as net:
        assert len(_udp_probe(net, 200)) == 200


@pytest.mark.privileged
def test_cleanup_after_an_exception(prefix):
    with pytest.raises(RuntimeError):
        with Netlab(prefix=prefix, clients=2) as net:
            net.popen("client2", ["sleep", "30"])
            raise RuntimeError("boom")
    assert _leftovers(prefix) == []


def test_a_bad_rate_is_refused_before_anything_is_built():
    with pytest.raises(NetlabError, match="2mbit"):
        Netlab(prefix="x", rate="not-a-rate")


@pytest.mark.privileged
@pytest.mark.parametrize("delay", [None, "5ms"])
def test_failure_half_way_cleans_up(prefix, monkeypatch, delay):
    """tc refuses a qdisc after the namespaces (and the delay stage) exist: all of it is removed."""
    from lab.net import shaping

    monkeypatch.setattr(shaping, "qdisc_commands", lambda *a: [["tc", "qdisc", "add", "dev", "no-such-dev", "root",
                                                                "tbf"]])
    net = Netlab(prefix=prefix, clients=2, rate="1mbit", delay_ms=delay)
    with pytest.raises(NetlabError, match="no-such-dev"):
        net.up()
    assert _leftovers(prefix) == []


@pytest.mark.privileged
def test_cli_up_status_exec_down(prefix):
    def chatlab(*argv):
        return subprocess.run([sys.executable, "-m", "lab", "netlab", *argv, "--prefix", prefix]
                              if argv[0] != "exec" else
                              [sys.executable, "-m", "lab", "netlab", "exec", "--prefix", prefix, *argv[1:]],
                              capture_output=True, text=True, timeout=60)

    up = chatlab("up", "--loss", "5", "--delay", "10ms")
    assert up.returncode == 0, up.stderr
    stage = "netem" if netem_available() else "tun"  # a delay needs a stage; the kit's when the kernel has no netem
    assert f"({stage} stage)" in up.stdout and "delay 10 ms each way" in up.stdout, up.stdout
    st = chatlab("status", "--json")
    assert '"loss": 5' in st.stdout
    assert json.loads(st.stdout)["stage"]["name"] == stage
    text = chatlab("status")
    assert "stage:" in text.stdout and "dropped by the full queue" in text.stdout, text.stdout
    ex = chatlab("exec", "client1", "--", "ip", "-o", "-4", "addr", "show", "eth0")
    assert ex.returncode == 0 and "10.77.1.2" in ex.stdout
    down = chatlab("down")
    assert down.returncode == 0
    assert _leftovers(prefix) == []


def _interrupt_up(argv: list[str], ready, timeout: float = 60) -> tuple[str, str]:
    """Start `chatlab netlab up ARGV`, send Ctrl-C once ``ready()`` is true (bounded); check it exited 130, cleanly."""
    proc = subprocess.Popen([sys.executable, "-m", "lab", "netlab", "up", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.01)
        assert proc.poll() is None, "`up` finished before the moment to interrupt it came"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "removed" in err and "Traceback" not in err
    return out, err


@pytest.mark.privileged
def test_ctrl_c_during_up_leaves_nothing(prefix):
    # half way through building 42 namespaces
    _interrupt_up(["--clients", "40", "--prefix", prefix],
                  lambda: any(ns.startswith(prefix + "-") for ns in list_namespaces()), timeout=30)
    assert _leftovers(prefix) == []


# -- the kit's delay stage (TUN) --------------------------------------------

def _alive(pid: int) -> bool:
    try:
        return "lab.net.delay_stage" in open(f"/proc/{pid}/cmdline").read()
    except OSError:
        return False


@pytest.mark.privileged
def test_tun_stage_holds_every_packet_for_its_delay(prefix):
    with Netlab(prefix=prefix, clients=1, delay_ms="15ms", stage="tun") as net:
        st = net.status()["stage"]
        assert st["name"] == "tun" and st["running"] and st["settings"]["delay_ms"] == 15
        pid = st["pid"]
        with net.inside("server"):
            listener = socket.create_server((net.address("server"), 0))
        try:
            for _ in range(5):
                with net.inside("client1"):
                    began = time.perf_counter()
                    conn = socket.create_connection(listener.getsockname(), 5)
                    took = time.perf_counter() - began
                conn.close()
                listener.accept()[0].close()
                # connect() returns when the SYN-ACK arrives: the SYN and the SYN-ACK
                # each waited 15 ms in the stage, so this is a floor, whatever the load
                assert took >= 0.030, f"connect took {took * 1000:.1f} ms, less than the 30 ms round trip added"
        finally:
            listener.close()
        st = net.status()["stage"]
        c = st["counters"]
        # the last ACKs may still be in the stage: held now, forwarded later
        assert c["received"] >= 20 and c["forwarded"] + st["held"] == c["received"] and c["dropped_loss"] == 0
    assert not _alive(pid), "the delay stage outlived its lab"


@pytest.mark.privileged
def test_same_seed_replays_the_same_losses(prefix):
    """Two labs with seed 7 lose the same datagrams; seed 8 loses others."""
    def run(seed: int) -> set[int]:
        with Netlab(prefix=prefix, clients=1, loss=30, seed=seed) as net:
            assert net.active_stage == "tun"
            arrived = _udp_probe(net, 200)
            c = net.status()["stage"]["counters"]
        assert c["dropped_loss"] == 200 - len(arrived)  # the stage's counter agrees with the receiver
        return arrived

    first, again, other = run(7), run(7), run(8)
    assert 90 <= len(first) <= 190
    assert first == again, f"seed 7 lost different datagrams: {sorted(set(range(200)) - first)[:10]}... " \
                           f"vs {sorted(set(range(200)) - again)[:10]}..."
    assert first != other


@pytest.mark.privileged
@pytest.mark.parametrize("stage", ["tun", "nftables"])
def test_a_full_queue_drops_and_every_drop_is_counted(prefix, stage):
    """300 datagrams of 1 KB at once into a 1 Mbit/s link with an 8 KB queue: tail drops, all accounted for."""
    with Netlab(prefix=prefix, clients=1, rate="1mbit", queue="8kb", stage=stage) as net:
        arrived = _udp_probe(net, 300, size=1000, pace=0)
        counters = net.status()["stage"]["counters"]
    assert counters["dropped_queue"] > 0, "the queue never overflowed"
    assert len(arrived) + counters["dropped_queue"] == 300, (len(arrived), counters)


@pytest.mark.privileged
def test_loss_can_change_while_the_stage_runs(prefix):
    with Netlab(prefix=prefix, clients=1, delay_ms="2ms", stage="tun") as net:
        net.set_loss(100)
        assert _udp_probe(net, 30) == set()
        assert net.loss_counters()["loss"] == 100
        net.set_loss(0)
        assert len(_udp_probe(net, 30)) == 30


@pytest.mark.privileged
def test_up_again_replaces_the_stage(prefix):
    net = Netlab(prefix=prefix, clients=1, delay_ms="5ms", keep=True).up()
    first = net.status()["stage"]["pid"]
    again = Netlab(prefix=prefix, clients=1, delay_ms="7ms", keep=True).up()
    st = again.status()["stage"]
    assert st["settings"]["delay_ms"] == 7 and st["pid"] != first and not _alive(first)
    Netlab(prefix=prefix, clients=1, loss=3, keep=True).up()  # back to loss only: nftables, no stage
    st = net.status()
    assert st["stage"]["name"] == "nftables" and st["loss"] == 3 and not _alive(st["stage"].get("pid") or first)
    net.down()
    assert _leftovers(prefix) == []


@pytest.mark.privileged
def test_ctrl_c_after_the_stage_started_leaves_nothing(prefix):
    stage_pids: list[str] = []

    def stage_started() -> bool:
        if f"{prefix}-router" in list_namespaces():
            stage_pids[:] = subprocess.run(["ip", "netns", "pids", f"{prefix}-router"], capture_output=True,
                                           text=True).stdout.split()
        return bool(stage_pids)

    # while 30 policy rules and offload settings are still being applied
    _interrupt_up(["--clients", "30", "--delay", "5ms", "--prefix", prefix], stage_started)
    assert not any(_alive(int(pid)) for pid in stage_pids)
    assert _leftovers(prefix) == []


@pytest.mark.privileged
def test_cli_measure(prefix):
    up = subprocess.run([sys.executable, "-m", "lab", "netlab", "up", "--clients", "1", "--delay", "10ms",
                         "--rate", "20mbit", "--prefix", prefix], capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    out = subprocess.run([sys.executable, "-m", "lab", "netlab", "measure", "--bytes", "300000", "--json",
                          "--prefix", prefix], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["configured"]["round_trip_added_ms"] == 20 and r["configured"]["stage"] in ("tun", "netem")
    assert r["ping_ms"]["answered"] == 20 and r["ping_ms"]["min"] >= 20  # the added delay is a floor
    assert r["tcp"]["bytes"] == 300_000 and r["tcp"]["handshake_ms"] >= 20
    if r["configured"]["stage"] == "tun":
        assert r["stage_cpu"]["packets"] >= 200  # 300 KB is at least 208 full segments, plus ACKs and pings
    text = subprocess.run([sys.executable, "-m", "lab", "netlab", "measure", "--bytes", "100000", "--prefix", prefix],
                          capture_output=True, text=True, timeout=120)
    assert "ping: 20 of 20 answered" in text.stdout and "Traceback" not in text.stderr
    down = subprocess.run([sys.executable, "-m", "lab", "netlab", "measure", "--prefix", prefix + "x"],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "not up" in down.stderr

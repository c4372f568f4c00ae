"""The whole experiment (I/O): the emulated network with the three rows, or the loopback fallback."""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from pathlib import Path

from lab.experiments.compare.accounting import PORT, count_reliable_on_wire, expected_udp_delivery
from lab.experiments.compare.lossy_relay import LossyUdpRelay
from lab.experiments.compare.reliable_half import run_reliable_half
from lab.experiments.compare.router_capture import RouterCapture
from lab.experiments.compare.tcp_half import run_tcp_half
from lab.experiments.compare.udp_half import run_udp_half

DEFAULT_INTERVAL = 0.01  # seconds between two messages of the scripted chat


def can_use_namespaces() -> str | None:
    """None if the experiment can use the emulated network, else why not (one line)."""
    from lab.net.netlab import privilege_problem

    return privilege_problem()


def run_compare(loss: int = 20, messages: int = 200, seed: int | None = None, interval: float = DEFAULT_INTERVAL,
                prefix: str | None = None, capture: bool = True, force_loopback: bool = False,
                pcap_dir: str | None = None) -> dict:
    """Run the experiment; return one dict with keys tcp, udp, reliable, loss, seed and more.

    Three rows: TCP, plain UDP, and UDP made reliable by the kit's reference
    transfer (lab/udp/reliable.py).  With root: the emulated network, a
    sniffer in the router.  Without root (or ``force_loopback``): the two UDP
    rows through seeded lossy relays on loopback; ``tcp`` then says why it
    was skipped.  ``pcap_dir``: keep the router's captures there (tcp.pcap,
    udp.pcap, reliable.pcap) to open in Wireshark.
    """
    if not 0 <= loss <= 100:
        raise ValueError("loss must be between 0 and 100 %")
    if not 1 <= messages <= 100_000:
        raise ValueError("messages must be between 1 and 100000")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    problem = "forced" if force_loopback else can_use_namespaces()
    base = {"loss": loss, "seed": seed, "messages": messages, "interval_ms": interval * 1000,
            "expected_udp_delivery": round(expected_udp_delivery(loss), 4), "router_crossings_per_message": 2}
    if problem:
        return {**base, **_run_loopback(loss, messages, seed, interval, problem)}
    return {**base, **_run_netlab(loss, messages, seed, interval, prefix, capture, pcap_dir)}


def _run_loopback(loss, messages, seed, interval, problem) -> dict:
    import contextlib

    nothing = contextlib.nullcontext
    # The relay must know the server's port before run_udp_half starts the
    # server: pick a free port now and give it to both.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    relay = LossyUdpRelay(("127.0.0.1", port), loss, seed)
    try:
        def set_loss(on: bool) -> None:
            relay.enabled = on

        udp = run_udp_half(lambda: nothing(), lambda k: nothing(), "127.0.0.1", messages, interval, set_loss,
                           port=port, server_address=relay.address)
        udp["relay"] = {"decisions": relay.decisions, "dropped": relay.drops}
    finally:
        relay.close()
    return {"mode": "loopback",
            "note": f"no emulated network ({problem}); both UDP rows ran through lossy relays on 127.0.0.1, "
                    "TCP was skipped",
            "tcp": {"skipped": "dropping TCP segments needs the emulated network (root): run with sudo"},
            "udp": udp, "reliable": _reliable_loopback(loss, messages, seed, interval)}


def _reliable_loopback(loss, messages, seed, interval) -> dict:
    """The reliable row on loopback: two lossy relays in a row, so each datagram crosses two lossy hops."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    relays = []
    try:
        receiver.bind(("127.0.0.1", 0))
        sender.bind(("127.0.0.1", 0))
        relays.append(LossyUdpRelay(receiver.getsockname(), loss, seed, name="reliable-far:"))
        relays.append(LossyUdpRelay(relays[0].address, loss, seed, name="reliable-near:"))

        def set_loss(on: bool) -> None:
            for relay in relays:
                relay.enabled = on

        result = run_reliable_half(sender, receiver, relays[1].address, messages, interval, set_loss, seed)
        result["relay"] = {"decisions": sum(r.decisions for r in relays), "dropped": sum(r.drops for r in relays)}
        return result
    finally:
        for relay in relays:
            relay.close()
        sender.close()
        receiver.close()


def _run_netlab(loss, messages, seed, interval, prefix, capture, pcap_dir=None) -> dict:
    from lab.net.netlab import Netlab

    prefix = prefix or f"cmp{os.getpid() % 100000}"
    note = f"emulated network {prefix!r}: router drops {loss} % of forwarded packets"
    if capture and shutil.which("tcpdump") is None:
        capture = False
        note += "; no tcpdump, so no capture: retransmissions from TCP_INFO only (apt install tcpdump)"
    net = Netlab(prefix=prefix, clients=2, loss=0)
    with net, tempfile.TemporaryDirectory(prefix="chatlab-compare-") as tmp:
        server_ns = lambda: net.inside("server")  # noqa: E731
        client_ns = lambda k: net.inside(f"client{k}")  # noqa: E731

        router: dict = {}

        def set_loss(on: bool) -> None:
            if not on:
                router.update(net.loss_counters())  # read before the table (and its counters) is replaced
            net.set_loss(loss if on else 0)

        halves = {}
        wire = {}
        sniffers = {}
        rows = {"tcp": lambda: run_tcp_half(server_ns, client_ns, net.address("server"), messages, interval, set_loss),
                "udp": lambda: run_udp_half(server_ns, client_ns, net.address("server"), messages, interval, set_loss),
                "reliable": lambda: _reliable_netlab(net, messages, interval, set_loss, seed)}
        for proto, run in rows.items():
            sniffer = sniffers[proto] = RouterCapture(net, Path(pcap_dir or tmp) / f"{proto}.pcap") if capture else None
            if sniffer:
                sniffer.start()
            try:
                halves[proto] = run()
                halves[proto]["router"] = {"forwarded": router.get("seen"), "dropped": router.get("dropped")}
            finally:
                if sniffer:
                    sniffer.stop()
            if sniffer:
                wire[proto] = sniffer.analyse()
        tcp, udp, reliable = halves["tcp"], halves["udp"], halves["reliable"]
        if capture:
            tcp["retransmissions"] = wire["tcp"]["retransmissions"]
            tcp["wire"] = wire["tcp"]
            udp["wire"] = {"packets": wire["udp"]["packets"], "udp_datagrams": wire["udp"]["udp_datagrams"]}
            reliable["wire"] = count_reliable_on_wire(sniffers["reliable"].read(), net.address("client1"))
            reliable["wire"].update(packets=wire["reliable"]["packets"], tcpdump=wire["reliable"]["tcpdump"])
        else:
            tcp["retransmissions"] = tcp["retransmissions_tcp_info"]
    return {"mode": "netlab", "note": note,
            "tcp": tcp, "udp": udp, "reliable": reliable}


def _reliable_netlab(net, messages, interval, set_loss, seed) -> dict:
    """The reliable row in the emulated network: client1 -> a plain forwarder on the server host -> client2."""
    sockets = []
    with net.inside("server"):  # the forwarder's thread, and the sockets it makes, live in "server"
        forwarder = LossyUdpRelay((net.address("client2"), PORT), 0, None, host=net.address("server"), port=PORT)
    try:
        with net.inside("client2"):
            receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(receiver)
            receiver.bind((net.address("client2"), PORT))
        with net.inside("client1"):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sender)
            sender.bind((net.address("client1"), 0))
        return run_reliable_half(sender, receiver, (net.address("server"), PORT), messages, interval, set_loss, seed)
    finally:
        forwarder.close()
        for sock in sockets:
            sock.close()

"""The whole experiment (I/O): the emulated network with both halves, or the loopback fallback."""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from pathlib import Path

from lab.experiments.compare.accounting import expected_udp_delivery
from lab.experiments.compare.router_capture import RouterCapture
from lab.experiments.compare.tcp_half import run_tcp_half
from lab.experiments.compare.lossy_relay import LossyUdpRelay
from lab.experiments.compare.udp_half import run_udp_half

DEFAULT_INTERVAL = 0.01  # seconds between two messages of the scripted chat


def can_use_namespaces() -> str | None:
    """None if the experiment can use the emulated network, else why not (one line)."""
    from lab.net.netlab import privilege_problem

    return privilege_problem()


def run_compare(loss: int = 20, messages: int = 200, seed: int | None = None, interval: float = DEFAULT_INTERVAL,
                prefix: str | None = None, capture: bool = True, force_loopback: bool = False,
                pcap_dir: str | None = None) -> dict:
    """Run the experiment; return one dict with keys tcp, udp, loss, seed and more.

    With root: the emulated network (TCP and UDP halves, sniffer in the
    router).  Without root (or ``force_loopback``): only the UDP half,
    through a seeded lossy relay on loopback; ``tcp`` then says why it was
    skipped.  ``pcap_dir``: keep the router's captures there (tcp.pcap,
    udp.pcap) to open in Wireshark.
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
            "note": f"no emulated network ({problem}); UDP ran through a lossy relay on 127.0.0.1, TCP was skipped",
            "tcp": {"skipped": "dropping TCP segments needs the emulated network (root): run with sudo"},
            "udp": udp}


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
        for proto, half in (("tcp", run_tcp_half), ("udp", run_udp_half)):
            sniffer = RouterCapture(net, Path(pcap_dir or tmp) / f"{proto}.pcap") if capture else None
            if sniffer:
                sniffer.start()
            try:
                halves[proto] = half(server_ns, client_ns, net.address("server"), messages, interval, set_loss)
                halves[proto]["router"] = {"forwarded": router.get("seen"), "dropped": router.get("dropped")}
            finally:
                if sniffer:
                    sniffer.stop()
            if sniffer:
                wire[proto] = sniffer.analyse()
        tcp, udp = halves["tcp"], halves["udp"]
        if capture:
            tcp["retransmissions"] = wire["tcp"]["retransmissions"]
            tcp["wire"] = wire["tcp"]
            udp["wire"] = {"packets": wire["udp"]["packets"], "udp_datagrams": wire["udp"]["udp_datagrams"]}
        else:
            tcp["retransmissions"] = tcp["retransmissions_tcp_info"]
    return {"mode": "netlab", "note": note,
            "tcp": tcp, "udp": udp}

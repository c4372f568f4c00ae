"""Lesson 6 helpers: TCP vs UDP under loss, on the emulated network or the loopback relay."""

from __future__ import annotations

import os
from pathlib import Path

from lab.notebook.display import note, show, table
from lab.notebook.settings import FORCE_RECORDED_ENV, NETLAB_PREFIX


def compare(loss: int = 20, messages: int = 200, seed: int = 7) -> dict:
    """lab.experiments.compare's experiment in an emulated network when permitted, else on loopback (with a note).

    The namespaces (``nblabPID-...``) exist only during this call:
    lab.net.netlab removes them in ``finally``, even if the experiment fails.
    """
    from lab.experiments.compare import can_use_namespaces, run_compare

    problem = can_use_namespaces()
    if os.environ.get(FORCE_RECORDED_ENV):
        problem = f"{FORCE_RECORDED_ENV}=1 asks for the version without root"
    if problem:
        note(f"**No emulated network here** ({problem}). The UDP half runs through a lossy relay on "
             "127.0.0.1 instead (the relay drops datagrams with a seeded random generator); the TCP half "
             "is skipped, because making the kernel lose TCP segments needs root. Run the notebook with "
             "root (sudo) to see both.")
    from lab.net.netlab import NetlabError

    try:
        return run_compare(loss=loss, messages=messages, seed=seed, force_loopback=bool(problem),
                           prefix=f"{NETLAB_PREFIX}{os.getpid()}")
    except NetlabError as exc:
        # e.g. root in a container without CAP_SYS_ADMIN: euid 0, yet no namespaces.
        note(f"**No emulated network here**: building it failed ({exc}). The UDP half runs through a "
             "lossy relay on 127.0.0.1 instead; the TCP half is skipped.")
        return run_compare(loss=loss, messages=messages, seed=seed, force_loopback=True)


def remove_stale_netlabs() -> list[str]:
    """Remove notebook namespaces (nblabPID-...) whose kernel PID no longer exists; returns their prefixes."""
    import re

    from lab.net.netlab import Netlab, list_namespaces, privilege_problem

    if privilege_problem():
        return []
    stale = set()
    for ns in list_namespaces():
        found = re.match(rf"^({NETLAB_PREFIX}(\d+))-", ns)
        if found and not Path(f"/proc/{found.group(2)}").exists():
            stale.add(found.group(1))
    for prefix in sorted(stale):
        Netlab(prefix=prefix, clients=1).down()
    return sorted(stale)


def compare_table(results: dict) -> None:
    """The experiment's numbers, TCP and UDP side by side."""
    rows = []
    for proto in ("tcp", "udp"):
        r = results.get(proto, {})
        if "sent" not in r:
            rows.append({"protocol": proto.upper(), "sent": "-", "delivered": "-", "lost": "-",
                         "in order": "-", "retransmissions": r.get("skipped", "-"), "latency p50 / max (ms)": "-"})
            continue
        lat = r["latency_ms"]
        rows.append({"protocol": proto.upper(), "sent": r["sent"], "delivered": r["delivered"], "lost": r["lost"],
                     "in order": "yes" if r["out_of_order"] == 0 else f"{r['out_of_order']} out of order",
                     "retransmissions": r.get("retransmissions", "none (UDP never resends)" if proto == "udp" else "-"),
                     "latency p50 / max (ms)": f"{lat['p50']} / {lat['max']}"})
    show(table(rows, f"{results['messages']} chat messages, {results['loss']} % loss per router crossing "
                     f"({results['mode']})"))

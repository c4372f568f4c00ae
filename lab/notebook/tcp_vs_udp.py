"""Lesson 6 helpers: TCP vs UDP under loss, on the emulated network or the loopback relay.

Without root there is no emulated network, and the TCP half cannot run
(making the kernel lose TCP segments needs the router's firewall).  The
lesson then shows the TCP half of a run RECORDED with the same notebook
(lab/data/lessons/06-compare.json and its router capture
06-compare-tcp.pcap), next to this run's UDP half through the loopback
relay, and says so.

Every counter the lesson prints counts something else; :func:`counters`
puts them side by side with what each one counts, and the claims check
that they agree where they must.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lab.notebook.claims import Claim
from lab.notebook.display import note, show, table
from lab.notebook.settings import FORCE_RECORDED_ENV, LESSON_DATA, NETLAB_PREFIX, RECORD_ENV

RECORDED = "06-compare"  # lab/data/lessons/06-compare.json, 06-compare-tcp.pcap


def compare(loss: int = 20, messages: int = 200, seed: int = 7, keep: str | os.PathLike | None = None) -> dict:
    """lab.experiments.compare's experiment in an emulated network when permitted, else on loopback (with a note).

    ``keep``: a directory for the router's captures (tcp.pcap, udp.pcap);
    ``results["tcp_pcap"]`` then names the TCP one (the recorded one when
    the TCP half is replayed).  The namespaces (``nblabPID-...``) exist
    only during this call: lab.net.netlab removes them in ``finally``,
    even if the experiment fails.
    """
    from lab.experiments.compare import can_use_namespaces, run_compare
    from lab.net.netlab import NetlabError

    problem = can_use_namespaces()
    if os.environ.get(FORCE_RECORDED_ENV):
        problem = f"{FORCE_RECORDED_ENV}=1 asks for the version without root"
    if problem:
        note(f"**No emulated network here** ({problem}). The UDP half runs through a lossy relay on "
             "127.0.0.1 instead (the relay drops datagrams with a seeded random generator). Making the kernel "
             "lose TCP segments needs root, so the TCP half shown is a RECORDED run of this notebook. "
             "Run the notebook with root (sudo) to see both live.")
    keep = str(keep) if keep is not None else None
    try:
        results = run_compare(loss=loss, messages=messages, seed=seed, force_loopback=bool(problem),
                              prefix=f"{NETLAB_PREFIX}{os.getpid()}", pcap_dir=keep)
    except NetlabError as exc:
        # e.g. root in a container without CAP_SYS_ADMIN: euid 0, yet no namespaces.
        note(f"**No emulated network here**: building it failed ({exc}). The UDP half runs through a "
             "lossy relay on 127.0.0.1 instead; the TCP half shown is a RECORDED run.")
        results = run_compare(loss=loss, messages=messages, seed=seed, force_loopback=True)
    pcap = Path(keep) / "tcp.pcap" if keep else None
    if "sent" in results["tcp"]:
        results["tcp_pcap"] = str(pcap) if pcap and pcap.exists() else None
        _record(results, pcap)
    else:
        _replay_tcp(results)
    return results


def _record(results: dict, pcap: Path | None) -> None:
    """When re-recording the lessons (tools/record_lessons.py), keep this run's TCP half."""
    directory = os.environ.get(RECORD_ENV)
    if not directory or pcap is None or not pcap.exists():
        return
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pcap, target / f"{RECORDED}-tcp.pcap")
    kept = {k: v for k, v in results.items() if k not in ("udp", "tcp_pcap")}
    (target / f"{RECORDED}.json").write_text(json.dumps(kept, indent=1, sort_keys=True, default=str) + "\n")


def _replay_tcp(results: dict) -> None:
    recorded = json.loads((LESSON_DATA / f"{RECORDED}.json").read_text())
    results["tcp_skipped"] = results["tcp"].get("skipped")
    results["tcp"] = recorded["tcp"]
    results["tcp_pcap"] = str(LESSON_DATA / f"{RECORDED}-tcp.pcap")
    results["tcp_recorded"] = {k: recorded[k] for k in ("loss", "messages", "seed", "mode", "note")}
    results["note"] = results["note"].replace("TCP was skipped", f"TCP: the RECORDED run lab/data/lessons/{RECORDED}.json")


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


def tcp_source(results: dict) -> str:
    """Where the TCP half's packets come from: this run's router, or the recording."""
    if results.get("tcp_recorded"):
        return f"RECORDED router capture, lab/data/lessons/{RECORDED}-tcp.pcap"
    return "the router's capture of this run"


def _label(results: dict, proto: str) -> str:
    if proto == "tcp":
        return "TCP (RECORDED run)" if results.get("tcp_recorded") else "TCP"
    return "UDP" + (" (loopback relay)" if results["mode"] == "loopback" else "")


def compare_table(results: dict) -> None:
    """The experiment's numbers, TCP and UDP side by side."""
    rows = []
    for proto in ("tcp", "udp"):
        r = results.get(proto, {})
        lat = r["latency_ms"]
        rows.append({"protocol": _label(results, proto), "sent": r["sent"], "delivered": r["delivered"],
                     "lost": r["lost"], "in order": "yes" if r["out_of_order"] == 0 else f"{r['out_of_order']} not",
                     "latency p50 / max (ms)": f"{lat['p50']} / {lat['max']}"}
                    | ({"still in flight": r.get("in_flight", {}).get("messages", 0) if proto == "tcp" else "-"}
                       if results["tcp"].get("in_flight") else {}))
    where = "emulated network" if results["mode"] == "netlab" else "UDP: loopback relay; TCP: RECORDED run"
    show(table(rows, f"{results['messages']} chat messages, {results['loss']} % loss per router crossing "
                     f"({where})"))
    if results["tcp"].get("in_flight"):
        from lab.experiments.compare.explain import explain_in_flight

        note(explain_in_flight(results["tcp"]["in_flight"], results["tcp"]["waited_s"]))


def counters(results: dict, resends: list) -> None:
    """Every count of losses and repairs the lesson shows, with what each one counts."""
    tcp, udp = results["tcp"], results["udp"]
    rows = []
    wire = tcp.get("wire", {})
    kernel = tcp.get("tcp_info_total_retrans", {})
    rows.append({"counter": "TCP: retransmitted packets in the router's capture",
                 "counts": "packets that resend bytes already sent (sequence number below the highest)",
                 "value": len(resends)})
    rows.append({"counter": "  the same, in MSS-sized segments",
                 "counts": "a burst the veth passes as one big (GSO) packet counts once per 1448 bytes",
                 "value": sum(r.segments for r in resends)})
    rows.append({"counter": "TCP: the kernels' tcpi_total_retrans",
                 "counts": "segments each sender's kernel resent (TCP_INFO), in MSS-sized segments",
                 "value": f"{sum(v for v in kernel.values() if v)} ("
                          + ", ".join(f"{k} {v}" for k, v in kernel.items() if v is not None) + ")"})
    shark = wire.get("wireshark")
    if shark:
        rows.append({"counter": "TCP: Wireshark's labels",
                     "counts": "'retransmission' (fast and spurious ones included) + 'out-of-order' (a gap "
                               "filled within one round trip of a later segment)",
                     "value": f"{shark['retransmission']} + {shark['out_of_order']} = "
                              f"{shark['retransmission'] + shark['out_of_order']}"})
    if wire.get("capture_dropped") is not None:
        rows.append({"counter": "TCP: packets the router's tcpdump missed", "counts": "its own report at the end",
                     "value": wire["capture_dropped"]})
    dropped = (udp.get("router") or {}).get("dropped")
    if dropped is None:
        dropped = (udp.get("relay") or {}).get("dropped")
    rows.append({"counter": "UDP: messages lost", "counts": "sent minus delivered (the sender says how many it sent)",
                 "value": udp["lost"]})
    rows.append({"counter": "UDP: datagrams the " + ("router" if results["mode"] == "netlab" else "relay")
                            + " dropped", "counts": "its own counter during the messages", "value": dropped})
    seen = (udp.get("sequence_numbers") or {}).get("at_receiver") or {}
    rows.append({"counter": "UDP: gaps the receiver counted",
                 "counts": f"numbers missing below the highest it saw (#{seen.get('highest')}); "
                           f"a loss after it is invisible to the receiver",
                 "value": seen.get("lost")})
    show(table(rows, "what each counter counts", ["counter", "counts", "value"]))


def tcp_claims(results: dict, resends: list) -> list[Claim]:
    """TCP delivered everything in order; its counters agree where they count the same thing."""
    tcp = results["tcp"]
    # When the receiver stopped waiting while a backed-off timer still held
    # the last messages (compare_table says why), TCP's guarantee is that
    # nothing is lost: 1..k arrived and the kernels hold the rest.
    in_flight = tcp.get("in_flight")
    held = in_flight["messages"] if in_flight else 0
    claims = [Claim("TCP lost nothing: messages 1..k delivered once, in order; the rest still in flight"
                    if in_flight else "TCP delivered every message, once, in order",
                    tcp["delivered"] + held == tcp["sent"] and tcp["lost"] == 0
                    and not tcp["duplicated"] and not tcp["out_of_order"],
                    f"{tcp['delivered']} of {tcp['sent']} delivered, "
                    + (f"{held} held by {', '.join(in_flight['hops'])}, " if in_flight else "")
                    + f"{tcp['duplicated']} twice, {tcp['out_of_order']} out of order")]
    wire = tcp.get("wire", {})
    shark = wire.get("wireshark")
    if shark:
        total = shark["retransmission"] + shark["out_of_order"]
        claims.append(Claim("Wireshark's 'retransmission' + 'out-of-order' = the retransmissions we count",
                            total == len(resends), f"{shark['retransmission']} + {shark['out_of_order']} = "
                                                   f"{total}, we count {len(resends)}"))
    kernel = sum(v for v in tcp.get("tcp_info_total_retrans", {}).values() if v)
    segments = sum(r.segments for r in resends)
    # Only a complete capture can be compared with the kernels, and only once
    # they have stopped retransmitting (not while something is in flight).
    if wire.get("capture_dropped") == 0 and not in_flight:
        claims.append(Claim("the kernels' TCP_INFO counts the retransmitted packets' MSS-sized segments",
                            kernel == segments, f"{len(resends)} packets = {segments} segments on the wire, "
                                                f"TCP_INFO {kernel}"))
    return claims


def udp_claims(results: dict) -> list[Claim]:
    """UDP lost exactly what the network dropped, and its receiver saw all of it but the tail."""
    udp = results["udp"]
    counter = (udp.get("router") or udp.get("relay") or {}).get("dropped")
    where = "router" if results["mode"] == "netlab" else "relay"
    seen = udp["sequence_numbers"]["at_receiver"]
    tail = udp["sent"] - seen["highest"]
    return [Claim(f"every datagram the {where} dropped is a message lost for good (nothing resends it)",
                  counter == udp["lost"], f"the {where} dropped {counter}, {udp['lost']} messages lost"),
            Claim("the receiver's sequence numbers show every loss but those after the last arrival",
                  seen["lost"] + tail == udp["lost"],
                  f"{seen['lost']} gaps below #{seen['highest']} + {tail} after it = {udp['lost']}")]

"""Lesson 9 helpers: packets made by hand (lab.craft), live in an emulated network or from the recording.

``CraftLab(lesson)`` builds the lesson's emulated network when this kernel
may (root: namespaces and raw sockets), and removes it at ``lesson.cleanup()``
(or, if the kernel is killed, the next Lesson removes it: its namespaces
carry the ``nblabPID-`` prefix).  Without root it says so once, and every
experiment returns what it returned when the lesson was recorded
(lab/data/lessons/09-experiments.json, written by tools/record_lessons.py),
so the notebook reads the same either way.

The ``*_claims`` functions are the lesson's self-checks (lab.notebook.claims):
each returns the Claims a cell hands to ``nb.check``, which prints "✓ ..."
when the packets (or the server's log) agree and raises when they do not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.notebook.display import note, show, table
from lab.notebook.settings import FORCE_RECORDED_ENV, LESSON_DATA, NETLAB_PREFIX, RECORD_ENV

RECORDING = "09-experiments.json"


class CraftLab:
    """The lesson's network and experiments: live (root) or recorded (see the module docstring)."""

    def __init__(self, lesson, clients: int = 2):
        self.lesson = lesson
        self.net = None
        self.server = self.bob = None
        self.results: dict = {}
        self.problem = lesson.netns_problem or lesson.capture_problem
        if os.environ.get(FORCE_RECORDED_ENV):
            self.problem = f"{FORCE_RECORDED_ENV}=1 asks for the recorded lesson"
        if self.problem is None:
            from lab.net.netlab import Netlab, NetlabError

            net = Netlab(prefix=f"{NETLAB_PREFIX}{os.getpid()}", clients=clients)
            try:
                net.up()
                self.net = net
                lesson.track("the emulated network (namespaces)", net.down)
            except NetlabError as exc:
                self.problem = str(exc)
        if self.net is None:
            self.recorded = json.loads((LESSON_DATA / RECORDING).read_text())
            note(f"**No emulated network here** ({self.problem}). The experiments below show what they did when "
                 "this notebook was recorded as root; run it with root (sudo) to make the packets yourself.")
        else:
            print(f"emulated network up: {', '.join(self.net.hosts)} (prefix {self.net.prefix}); "
                  f"the chat server will be {self.net.address('server')}:5050")

    @property
    def live(self) -> bool:
        """True when the packets are made now, by this kernel."""
        return self.net is not None

    def netns(self, host: str) -> str | None:
        """The namespace of ``host`` (None when recorded)."""
        return self.net.netns(host) if self.net is not None else None

    def address(self, host: str) -> str:
        """The address of ``host`` in the emulated network (the same live and recorded)."""
        from lab.net.netlab import Netlab

        return (self.net or Netlab(prefix="x", clients=3)).address(host)

    # -- recording ----------------------------------------------------------------------------
    def _keep(self, key: str, data: dict) -> dict:
        self.results[key] = data
        directory = os.environ.get(RECORD_ENV)
        if directory:
            path = Path(directory) / RECORDING
            old = json.loads(path.read_text()) if path.exists() else {}
            old[key] = data
            path.write_text(json.dumps(old, indent=1, default=str) + "\n")
        return data

    def _recorded(self, key: str) -> dict:
        try:
            return self.recorded[key]
        except KeyError:
            raise LookupError(f"the recording has no experiment {key!r}: re-record with tools/record_lessons.py")

    # -- the room ----------------------------------------------------------------------------
    def room(self):
        """Start the chat server in "server" and bob, a real `chatlab client`, in "client2" (live only)."""
        if not self.live:
            return None, None
        from lab.craft import members

        server = members.start_server(self.net)
        self.lesson.track("the chat server in the emulated network", server.stop)
        bob = members.TerminalClient(self.net, "client2", (self.address("server"), members.CHAT_PORT), "bob")
        self.lesson.track("bob's chatlab client", bob.stop)
        bob.joined()
        self.server, self.bob = server, bob
        return server, bob

    # -- experiments ---------------------------------------------------------------------------
    def hand_join(self, key: str, **options) -> dict:
        """lab.craft.handshake.hand_join from "client1"; also what bob's screen and the server's log show."""
        if not self.live:
            return self._recorded(key)
        from lab.craft import members
        from lab.craft.handshake import hand_join

        server_addr = (self.address("server"), members.CHAT_PORT)
        name, line = options.pop("name", "mallory"), options.pop("line", "hello from scapy")
        result = hand_join(self.net, "client1", server_addr, name, line, **options).to_dict()
        if result["reached"] in ("line acknowledged", "closed"):
            self.bob.wait_for(f"{name} left" if result["reached"] == "closed" else line, 3)
        result["bob_saw"] = [shown for shown in self.bob.lines() if name[1:] in shown]
        port = result["local"][1]
        members.wait_event(self.server, lambda e: e["kind"] == "closed" and tuple(e.get("peer", ())) ==
                           tuple(result["local"]), 2 if result["reached"] == "closed" else 0.3)
        result["server_log"] = [self._event_row(e) for e in members.events(self.server)
                                if tuple(e.get("client") or e.get("peer") or ()) == tuple(result["local"])
                                or (e["kind"] == "named" and e.get("conn") in self._conns(port))]
        return self._keep(key, result)

    def _conns(self, port: int) -> set:
        from lab.craft import members

        return {e["conn"] for e in members.events(self.server, "accepted") if e["client"][1] == port}

    @staticmethod
    def _event_row(event: dict) -> dict:
        from lab.lifecycle import ENDINGS

        what = {"accepted": f"accepted {event.get('client', ['', ''])[0]}:{event.get('client', ['', ''])[1]}",
                "named": f"joined as {event.get('name')!r}",
                "closed": f"closed: {ENDINGS.get(event.get('how'), event.get('how'))}"}.get(event["kind"],
                                                                                              event["kind"])
        return {"conn": f"#{event.get('conn')}", "event": event["kind"], "what": what}

    def forged_resets(self, key: str, tls: bool = False, **options) -> dict:
        """lab.craft.reset.forged_resets against a fresh member: on the room's server, or over TLS on port 5051."""
        if not self.live:
            return self._recorded(key)
        from lab.craft.reset import forged_resets

        where = {"tls": True, "port": 5051} if tls else {"server": self.server}
        run = forged_resets(self.net, **where, **options).to_dict()
        closed = run["closed_event"]
        run["closed_event"] = {"how": closed["how"], "name": closed["name"]} if closed else None
        return self._keep(key, run)

    def syn_flood(self, key: str, **options) -> dict:
        """lab.craft.flood.syn_flood: its own server with a small backlog on port 5050 (the room's is stopped)."""
        if not self.live:
            return self._recorded(key)
        from lab.craft.flood import syn_flood

        self.bob.stop()
        self.server.stop()
        return self._keep(key, syn_flood(self.net, **options).to_dict())


# -- showing the results --------------------------------------------------------------------------

def show_steps(result: dict, title: str) -> None:
    """The hand-made connection, one row per segment, numbers relative to each side's ISN."""
    isn, server_isn = result["isn"], result["server_isn"]
    rows = []
    for n, step in enumerate(result["steps"], 1):
        mine = step["sender"] != "server"
        base, other = (isn, server_isn) if mine else (server_isn, isn)
        rel = (lambda v, b: f"ISN+{(v - b) % 2**32}" if b is not None else str(v))
        rows.append({"#": n, "from": step["sender"], "flags": step["flags"], "seq": rel(step["seq"], base),
                     "ack": rel(step["ack"], other) if "A" in step["flags"] else "",
                     "len": step["length"], "what": step["what"]})
    show(table(rows, f"{title} (our ISN {isn}, the server's ISN {server_isn})",
               ["#", "from", "flags", "seq", "ack", "len", "what"]))
    if result.get("problem"):
        print("stopped:", result["problem"])


def show_log(result: dict) -> None:
    """The chat server's lifecycle log for this connection, and what bob's chatlab client printed."""
    if result.get("server_log"):
        show(table(result["server_log"], "the chat server's lifecycle log for this connection",
                   ["conn", "event", "what"]))
    print("bob's screen:", *(result.get("bob_saw") or ["(nothing about mallory)"]), sep="\n  ")


def show_resets(run: dict) -> None:
    """The three forged RSTs: where each seq falls, what RFC 5961 says, what the server did."""
    rows = [{"RST": t["kind"].replace("_", " "), "seq": t["seq"], "seq - RCV.NXT": t["offset"],
             "server answered": t["answer"], "member left": "yes" if t["member_left"] else "no",
             "RFC 5961 says": t["expected"]} for t in run["tries"]]
    show(table(rows, f"forged RSTs against {run['victim'][0]}:{run['victim'][1]}"
                     f"{' (TLS)' if run['tls'] else ''}", list(rows[0]) if rows else []))
    if run.get("room_saw"):
        print("the witness in the room saw:", run["room_saw"])


def show_flood(run: dict) -> None:
    """Both phases of the SYN flood: the honest client's fate and the counters that moved (nstat)."""
    from lab.craft.counters import MEANING

    rows = []
    for phase in run["phases"]:
        rows.append({"tcp_syncookies": phase["syncookies"], "honest client": phase["honest"],
                     "chat server accepted it": "yes" if phase["accepted"] else "no",
                     "counters that moved (nstat, server's namespace)":
                         ", ".join(f"{k} +{v}" for k, v in phase["counters"].items()) or "none"})
    show(table(rows, f"{run['flood']} spoofed SYNs against backlog {run['backlog']}", list(rows[0])))
    moved = sorted({k for p in run["phases"] for k in p["counters"]})
    show(table([{"counter": k, "counts": MEANING.get(k, "")} for k in moved], "what each counter counts",
               ["counter", "counts"]))


def stream_of(cap, port: int) -> int:
    """The index (among the capture's TCP connections) of the one whose client port is ``port``."""
    tcp = [s for s in cap.streams if s.proto == "tcp"]
    for i, stream in enumerate(tcp):
        if stream.client[1] == port:
            return i
    raise LookupError(f"no connection from port {port} in the capture")


# -- the lesson's claims, checked on the packets (lab.notebook.claims) -----------------------------

def _claim(text: str, holds: bool, evidence) -> "Claim":
    from lab.notebook.claims import Claim

    return Claim(text, bool(holds), str(evidence))


def no_guard_claims(attempt: dict) -> list:
    """Without the guard rule: our kernel reset the SYN-ACK, and the server reset our late ACK."""
    senders = [(s["sender"], s["flags"]) for s in attempt["steps"]]
    return [_claim("our own kernel answered the SYN-ACK with an RST", ("our kernel", "R") in senders, senders),
            _claim("the server answered our late ACK with an RST", senders[-1:] == [("server", "R")], senders[-1:])]


def join_claims(cap, joined: dict, port: int) -> list:
    """The hand-made connection as the server's interface saw it, and bob's screen."""
    stream = cap.stream(stream_of(cap, port))
    rows = [a for a in cap.annotated if a.stream == stream.index and a.segment.proto == "tcp"]
    steps = [a.step for a in rows[:3]]
    name = next((a for a in rows if a.role == "client" and a.text[:1] == ["mallory"]), None)
    acked = None
    if name is not None:
        acked = next((a.ack for a in rows if a.role == "server" and "A" in a.flags
                      and a.ack == name.seq + name.segment.length), None)
    return [
        _claim("the server's capture shows a complete three-way handshake",
               steps == ["SYN 1/3", "SYN-ACK 2/3", "ACK 3/3"], steps),
        _claim("our name line carries relative seq 1 (the SYN consumed one number)",
               name is not None and name.seq == 1, f"seq {name.seq if name else 'no name segment'}"),
        _claim("the server acknowledged our 9 bytes: ack = ISN + 10", acked == 10, f"ack {acked}"),
        _claim("bob's chatlab client displayed our line",
               any("<mallory> hello from scapy" in line for line in joined["bob_saw"]), joined["bob_saw"][:2]),
        _claim("the connection ended with a FIN from each side", stream.summary()["ended"] == "FIN from both sides",
               stream.summary()["ended"]),
    ]


def mistake_claims(wrong_ack: dict, wrong_seq: dict) -> list:
    """ACK = the server's ISN is reset; data at our ISN loses its first byte."""
    last = wrong_ack["steps"][-1]
    welcome = next((line for line in wrong_seq["lines"] if "--- welcome:" in line), "no welcome line")
    return [_claim("(a) the server answered the wrong ACK with an RST, seq = that ACK",
                   last["sender"] == "server" and last["flags"] == "R" and last["seq"] == wrong_ack["server_isn"],
                   f"{last['sender']} [{last['flags']}] seq={last['seq']}"),
            _claim("(b) the server read our name as 'allory': it dropped the first byte", "you are allory" in welcome,
                   welcome)]


def reset_claims(run: dict, annotated: list) -> list:
    """The three forged RSTs: nothing, a challenge ACK (seen in the capture), a reset the room saw."""
    tries = {t["kind"]: t for t in run["tries"]}
    out, win, exact = tries["outside"], tries["in_window"], tries["exact"]
    forged = next((i for i, a in enumerate(annotated) if "R" in a.flags and a.segment.seq == win["seq"]), None)
    answer = next((a for a in annotated[forged + 1:] if a.role == "server"), None) if forged is not None else None
    closed = run["closed_event"] or {}
    return [
        _claim("an RST outside the window: no answer, the member stays",
               out["answer"] == "none" and not out["member_left"], out["answer"]),
        _claim("an RST in the window but not exact: a challenge ACK, the member stays",
               win["challenge_ack"] and not win["member_left"], win["answer"]),
        _claim("the capture shows the challenge ACK right after the in-window RST, ack = the exact number",
               answer is not None and answer.flags == "A" and answer.segment.ack == exact["seq"],
               f"{answer.flags} ack={answer.segment.ack}" if answer else "no server segment after it"),
        _claim("the exact RST: the server's log says reset, the member is gone",
               exact["member_left"] and closed.get("how") == "rst", closed),
        _claim("the room saw the member leave by RST", "reset" in (run.get("room_saw") or ""), run.get("room_saw")),
    ]


def tls_reset_claims(run: dict) -> list:
    """The exact forged RST against a TLS member."""
    closed = run["closed_event"] or {}
    return [_claim("over TLS too, the exact forged RST ended the member's connection", closed.get("how") == "rst",
                   closed)]


def flood_claims(run: dict, packets: list) -> list:
    """Both phases of the flood, from nstat and from the capture on the server's interface."""
    off, on = run["phases"]
    honest = sorted(a.segment.time for a in packets if a.segment.sport == off["honest_port"] and a.flags == "S")
    cookie = [a for a in packets if a.segment.dport == on["honest_port"] and a.flags == "SA"]
    return [
        _claim("without SYN cookies the honest SYN was dropped: connect() timed out",
               not off["connected"] and off["counters"].get("TcpExtTCPReqQFullDrop", 0) > 0,
               f"{off['honest']}; {off['counters']}"),
        _claim("with SYN cookies the honest client connected through a cookie, and the chat server accepted it",
               on["connected"] and on["accepted"] and on["counters"].get("TcpExtSyncookiesRecv", 0) >= 1,
               f"{on['honest']}; {on['counters']}"),
        _claim("the capture shows the honest client's SYN sent again (after 1 s), never answered",
               len(honest) >= 2,
               [round(t - honest[0], 2) for t in honest] if honest else "no honest SYN"),
        _claim("with cookies, one SYN-ACK (a cookie) answered the honest client's SYN", len(cookie) == 1, len(cookie)),
    ]

"""Lesson 9 helpers: packets made by hand (lab.craft), live in an emulated network or from the recording.

``CraftLab(lesson)`` builds the lesson's emulated network when this kernel
may (root: namespaces and raw sockets), and removes it at ``lesson.cleanup()``
(or, if the kernel is killed, the next Lesson removes it: its namespaces
carry the ``nblabPID-`` prefix).  Without root it says so once, and every
experiment returns what it returned when the lesson was recorded
(lab/data/lessons/09-experiments.json, written by tools/record_lessons.py),
so the notebook reads the same either way.

The ``check`` helper is the lesson's self-check: it prints "✓ claim" when
the packets (or the server's log) agree, and raises when they do not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.notebook.display import note, show, table
from lab.notebook.settings import FORCE_RECORDED_ENV, LESSON_DATA, NETLAB_PREFIX, RECORD_ENV

RECORDING = "09-experiments.json"


def check(ok: bool, claim: str, saw: str = "") -> None:
    """Print "✓ CLAIM" if OK, else raise AssertionError: the wire disagrees with the lesson."""
    if not ok:
        raise AssertionError(f"✗ the lesson claims: {claim} -- but the wire says otherwise: {saw}")
    print(f"✓ {claim}")


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

"""The forged reset: three RSTs against a member of the chat, from the router.

:func:`forged_resets` sets up the scene in the emulated network:

* the chat server (its own namespace), a victim member in "client1" and a
  witness in "client2", both ordinary lab.peer members;
* the attacker sits *on the path*, in the router (as a hostile Wi-Fi or a
  compromised router would): it captures the victim's connection on the
  router's server-side link and reads its numbers off the wire;
* it sends, pretending to be the victim, an RST outside the server's
  receive window, then one inside it but not exact, then one at exactly the
  server's RCV.NXT (numbers from lab/craft/forge.py), and watches what the
  server answers to each and whether the room sees the victim leave.

With ``tls=True`` the chat runs over TLS (the kit's lab CA): the exact RST
ends it all the same.  Every wait is bounded.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field

from lab.capture.decode import ACK, RST
from lab.craft import members
from lab.craft.endpoint import RawEndpoint, scapy_expression
from lab.craft.forge import ANSWERS, RESET_KINDS, reset_plan
from lab.craft.tcb import Outgoing, Seen, seq_diff


@dataclass
class ResetTry:
    """One forged RST: its sequence number and what the server did."""

    kind: str            # "outside", "in_window", "exact"
    seq: int
    offset: int          # seq - the server's RCV.NXT
    scapy: str
    answer: str          # "none", or the server's segment to the victim, e.g. "A seq=... ack=..."
    challenge_ack: bool
    member_left: bool    # the server ended the victim's connection (its log says reset)
    expected: str        # what RFC 5961 (and Linux) says happens


@dataclass
class ResetRun:
    """The whole experiment: the victim's 4-tuple, the three tries, the server log and the room's view."""

    victim: tuple[str, int]
    server: tuple[str, int]
    tls: bool
    tries: list[ResetTry] = field(default_factory=list)
    closed_event: dict | None = None
    room_saw: str | None = None

    def to_dict(self) -> dict:
        """The run as plain JSON values (how the lesson records it in lab/data/lessons/)."""
        return {"victim": list(self.victim), "server": list(self.server), "tls": self.tls,
                "tries": [vars(t) for t in self.tries], "closed_event": self.closed_event, "room_saw": self.room_saw}

    @classmethod
    def from_dict(cls, data: dict) -> "ResetRun":
        """The run that ``to_dict`` wrote (a recorded run, replayed without root)."""
        run = cls(tuple(data["victim"]), tuple(data["server"]), data["tls"])
        run.tries = [ResetTry(**t) for t in data["tries"]]
        run.closed_event, run.room_saw = data["closed_event"], data["room_saw"]
        return run


def _tls_contexts(directory: str, server_ip: str):
    from lab.tls import client_context, server_context
    from lab.tls.certs import init_lab_files

    paths, _ = init_lab_files(directory, hosts=["localhost"], ips=[server_ip], force=True)
    return server_context(paths.server_cert, paths.server_key), client_context(cafile=paths.ca_cert)


def forged_resets(net, kinds=RESET_KINDS, tls: bool = False, timeout: float = 3.0, server=None,
                  port: int = members.CHAT_PORT) -> ResetRun:
    """Run the experiment (see the module docstring).

    ``server`` may be a running plain-text ChatServer in the "server" host to use; otherwise one is started
    on ``port`` (with TLS if asked) and stopped at the end.
    """
    if server is not None and tls:
        raise ValueError("with tls=True the experiment starts its own TLS server")
    server_addr = (net.address("server"), server.address[1] if server is not None else port)
    own_server = server is None
    tmp = tempfile.TemporaryDirectory(prefix="chatlab-reset-") if tls else None
    client_tls = None
    peers = []
    try:
        if own_server:
            config = {}
            if tls:
                server_tls, client_tls = _tls_contexts(tmp.name, server_addr[0])
                config["tls"] = server_tls
            server = members.start_server(net, port=port, **config)
        with RawEndpoint(net, "router", server_addr, server_addr, iface=net.router_interface("server"),
                         capture_port=server_addr[1]) as attacker:
            from lab.peer import Peer

            with net.inside("client2"):
                witness = Peer(server_addr, "witness", tls=client_tls, timeout=timeout)
            peers.append(witness)
            with net.inside("client1"):
                victim = Peer(server_addr, "victim", tls=client_tls, timeout=timeout)
            peers.append(victim)
            witness.expect("victim joined", timeout)
            victim.send("nothing to hide here")
            witness.expect("nothing to hide here", timeout)
            run = ResetRun(victim.local, server_addr, tls)
            for kind in kinds:
                run.tries.append(_one_reset(net, attacker, server, run, kind, timeout))
            run.closed_event = members.wait_event(server, lambda e: e["kind"] == "closed" and e["name"] == "victim",
                                                  timeout if "exact" in kinds else 0.3)
            if "exact" in kinds:
                try:
                    run.room_saw = witness.expect("victim left", timeout)[-1]
                except TimeoutError:
                    run.room_saw = None
            return run
    finally:
        for peer in peers:
            peer.close()
        if own_server and server is not None:
            server.stop()
        if tmp is not None:
            tmp.cleanup()


def _one_reset(net, attacker: RawEndpoint, server, run: ResetRun, kind: str, timeout: float) -> ResetTry:
    victim, server_addr = run.victim, run.server
    tuple_ = {victim, server_addr}
    attacker.settle()
    seen = [((s.src, s.sport), Seen.of(s)) for s in attacker.segments
            if s.proto == "tcp" and {(s.src, s.sport), (s.dst, s.dport)} == tuple_]
    plan = reset_plan(seen, victim)
    seq = plan.seq(kind)
    rst = Outgoing("R", seq)
    before = len(attacker.segments)
    attacker.send(rst, send_as=victim, to=server_addr)
    # What did the server send to the victim after our RST?  (Bounded: an
    # ignored RST is answered by nothing at all.)
    wait = timeout if kind != "outside" else 1.0
    answer = None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and answer is None:
        later = attacker.segments[before:]
        answer = next((s for s in later if (s.src, s.sport) == server_addr and (s.dst, s.dport) == victim), None)
        if answer is None:
            time.sleep(0.02)
    left = members.wait_event(server, lambda e: e["kind"] == "closed" and e.get("name") == "victim",
                              timeout if kind == "exact" else 0.2) is not None
    if answer is None:
        said = "none"
    else:
        a = Seen.of(answer)
        said = f"{a.flags} seq={a.seq} ack={a.ack}" + (f" len={len(a.payload)}" if a.payload else "")
    challenge = (answer is not None and bool(answer.flags & ACK) and not answer.flags & RST
                 and not answer.length and answer.ack == plan.exact)
    return ResetTry(kind, seq, seq_diff(seq, plan.exact), scapy_expression(victim, server_addr, rst), said,
                    challenge, left, ANSWERS[kind])

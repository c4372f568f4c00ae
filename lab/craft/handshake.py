"""The handshake by hand: join the chat with packets written one by one.

:func:`hand_join` drives a :class:`~lab.craft.tcb.HandConnection` over a
:class:`~lab.craft.endpoint.RawEndpoint` in one host of the emulated network,
against the kit's real chat server in another:

1. SYN (an ISN drawn at random: unpredictable, which is what RFC 6528
   asks of a kernel's clock-plus-keyed-hash ISN too), wait for the SYN-ACK, send the ACK;
2. wait for the server's hello line, acknowledging each data segment;
3. send the name line, wait for the welcome, acknowledge it;
4. send one chat line (the room's other members see it), wait for its ACK;
5. send a FIN, wait for the server's FIN, acknowledge it.

With ``guard=False`` the kernel of the crafting host is not kept out (see
lab/craft/guard.py) and the result shows its RST.  ``ack_offset`` and
``seq_offset`` make the classic mistakes on purpose (ACK = the server's ISN,
data sent at the ISN instead of ISN + 1) so a lesson can show what the
server does with them.  Every wait is bounded by ``timeout`` seconds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from lab.chat import wire
from lab.craft.endpoint import RawEndpoint, scapy_expression
from lab.craft.guard import HAND_PORTS, KernelGuard
from lab.craft.tcb import HandConnection, Outgoing, Seen

HAND_PORT = HAND_PORTS.start


@dataclass
class Step:
    """One segment of the hand-made connection: who sent it, what it carried, in words."""

    sender: str       # "us", "server" or "our kernel"
    flags: str
    seq: int
    ack: int
    length: int
    what: str
    scapy: str = ""   # for what we sent: the scapy expression


@dataclass
class HandJoin:
    """What happened: the steps, the lines received, how far it got, the kernel guard's counter."""

    local: tuple[str, int]
    server: tuple[str, int]
    isn: int
    server_isn: int | None = None
    steps: list[Step] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    state: str = "CLOSED"
    reached: str = "nothing"   # "syn-ack", "joined", "line acknowledged", "closed"
    problem: str | None = None
    guard_dropped: int | None = None

    def to_dict(self) -> dict:
        """A JSON-ready copy (what a recorded lesson stores)."""
        return {"local": list(self.local), "server": list(self.server), "isn": self.isn,
                "server_isn": self.server_isn, "steps": [vars(s) for s in self.steps], "lines": self.lines,
                "state": self.state, "reached": self.reached, "problem": self.problem,
                "guard_dropped": self.guard_dropped}

    @classmethod
    def from_dict(cls, data: dict) -> "HandJoin":
        """The join that ``to_dict`` wrote (a recorded run, replayed without root)."""
        result = cls(tuple(data["local"]), tuple(data["server"]), data["isn"], data["server_isn"])
        result.steps = [Step(**s) for s in data["steps"]]
        for key in ("lines", "state", "reached", "problem", "guard_dropped"):
            setattr(result, key, data[key])
        return result


class _Driver:
    """The loop shared by every phase: receive, let the TCB answer, send, until a condition holds."""

    def __init__(self, endpoint: RawEndpoint, tcb: HandConnection, result: HandJoin, timeout: float):
        self.ep, self.tcb, self.result, self.timeout = endpoint, tcb, result, timeout

    def send(self, out: Outgoing, what: str) -> None:
        self.ep.send(out)
        self.result.steps.append(Step("us", out.flags, out.seq, out.ack, len(out.payload), what,
                                      scapy_expression(self.ep.local, self.ep.remote, out)))

    def _describe(self, seen: Seen) -> str:
        if "R" in seen.flags:
            return "RST: the server aborts the connection"
        if "S" in seen.flags:
            return "SYN-ACK: the server's ISN, and ACK = our ISN + 1"
        lines = [line for line in seen.payload.decode("utf-8", "replace").split("\r\n") if line]
        if lines:
            return "data: " + " | ".join(lines)
        return "FIN: the server closes its side" if "F" in seen.flags else "ACK"

    def until(self, done, what: str) -> bool:
        """Take in the server's segments (answering each) until ``done()``; False on timeout or RST."""
        import time

        deadline = time.monotonic() + self.timeout
        while not done():
            left = deadline - time.monotonic()
            seg = self.ep.receive(max(0.0, left)) if left > 0 else None
            if seg is None:
                self.result.problem = f"waited {self.timeout:g} s for {what}; it never came"
                return False
            seen = Seen.of(seg)
            self.result.steps.append(Step("server", seen.flags, seen.seq, seen.ack, len(seen.payload),
                                          self._describe(seen)))
            for answer in self.tcb.receive(seen):
                self.send(answer, "ACK of everything received" if answer.flags == "A" else answer.flags)
            if self.tcb.state == "RESET":
                self.result.problem = f"the server answered with RST while we waited for {what}"
                return False
        return True


def _has_line(tcb: HandConnection, test) -> bool:
    """True if a complete server line received so far passes ``test`` (read by lab.chat.wire)."""
    parsed = (wire.parse_server_line(line) for line in tcb.lines)
    return any(p is not None and test(p) for p in parsed)


def hand_join(net, host: str, server: tuple[str, int], name: str, line: str, *, port: int = HAND_PORT,
              isn: int | None = None, guard: bool = True, ack_offset: int = 0, seq_offset: int = 0,
              close: bool = True, timeout: float = 3.0) -> HandJoin:
    """Join the chat on ``server`` from ``host`` with hand-made segments; see the module docstring."""
    isn = secrets.randbits(32) if isn is None else isn
    local = (net.address(host), port)
    result = HandJoin(local, server, isn)
    tcb = HandConnection(local, server, isn)
    guarded = KernelGuard(net, host, server, str(port)) if guard else None
    if guarded is not None:
        guarded.install()
    try:
        with RawEndpoint(net, host, local, server) as ep:
            drive = _Driver(ep, tcb, result, timeout)
            _run(drive, ep, tcb, result, name, line, guard, ack_offset, seq_offset, close)
            result.state = tcb.state
            result.lines = tcb.lines
            if guarded is not None:
                result.guard_dropped = guarded.dropped()
    finally:
        if guarded is not None:
            guarded.remove()
    return result


def _run(drive: _Driver, ep: RawEndpoint, tcb: HandConnection, result: HandJoin, name: str, line: str,
         guard: bool, ack_offset: int, seq_offset: int, close: bool) -> None:
    drive.send(tcb.syn(), "SYN: seq = our ISN")
    synack = ep.receive(drive.timeout, lambda s: bool(s.flags & 0x02) or bool(s.flags & 0x04))
    if synack is None:
        result.problem = f"no SYN-ACK within {drive.timeout:g} s"
        return
    seen = Seen.of(synack)
    result.steps.append(Step("server", seen.flags, seen.seq, seen.ack, 0, drive._describe(seen)))
    if "R" in seen.flags:
        result.problem = "the server refused the SYN with RST (is the chat server listening?)"
        return
    result.server_isn = seen.seq
    result.reached = "syn-ack"
    (ack,) = tcb.receive(seen)
    if not guard:
        # Our own kernel answers the SYN-ACK it cannot place: watch for its RST.
        kernel = ep.receive(1.0, lambda s: bool(s.flags & 0x04),
                            source=lambda s: (s.src, s.sport) == ep.local)
        if kernel is not None:
            result.steps.append(Step("our kernel", Seen.of(kernel).flags, kernel.seq, kernel.ack, 0,
                                     "RST: our kernel has no socket for this port, so it resets"))
    ack = Outgoing(ack.flags, ack.seq, (ack.ack + ack_offset) % 2**32)
    drive.send(ack, "ACK 3/3: ack = the server's ISN + 1" if not ack_offset else
               f"ACK 3/3 with ack = the server's ISN + {1 + ack_offset} (on purpose)")
    if ack_offset or not guard:
        # A wrong ACK (or a reset connection): the server's answer is the lesson.
        answer = ep.receive(drive.timeout)
        if answer is not None:
            seen = Seen.of(answer)
            result.steps.append(Step("server", seen.flags, seen.seq, seen.ack, len(seen.payload),
                                     drive._describe(seen)))
            result.problem = "the server answered with RST" if "R" in seen.flags else None
        else:
            result.problem = f"no answer within {drive.timeout:g} s"
        return
    if not drive.until(lambda: _has_line(tcb, lambda p: p.kind == "info" and p.code == "hello"), "the hello line"):
        return
    if seq_offset:
        tcb.snd_nxt = (tcb.snd_nxt + seq_offset) % 2**32
    drive.send(tcb.send(wire.encode(name)), "our name line")
    if not drive.until(lambda: _has_line(tcb, lambda p: p.code == "welcome" or p.kind == "error"), "the welcome line"):
        return
    if not _has_line(tcb, lambda p: p.code == "welcome"):
        result.problem = "the server refused the name: " + " | ".join(tcb.lines[-2:])
        return
    result.reached = "joined"
    drive.send(tcb.send(wire.encode(line)), "a chat line for everyone")
    if not drive.until(lambda: tcb.snd_una == tcb.snd_nxt, "the ACK of our chat line"):
        return
    result.reached = "line acknowledged"
    if not close:
        return
    drive.send(tcb.close(), "FIN: we have nothing more to send")
    if drive.until(lambda: tcb.state == "TIME-WAIT", "the server's FIN and the ACK of ours"):
        result.reached = "closed"


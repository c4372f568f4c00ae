"""The SYN flood: half-open connections fill a small SYN queue; SYN cookies empty the problem.

When a SYN arrives, a listening socket keeps a small record of the
half-open connection (a *request*) and answers with a SYN-ACK; the record
stays until the handshake's ACK arrives, or until the SYN-ACK was resent
``net.ipv4.tcp_synack_retries`` times (5 on Linux: about a minute).  Linux
counts these requests against the listen() backlog: with ``backlog`` 4, the
fifth pending handshake finds the queue full.  A *SYN flood* sends SYNs and
never completes them.

What Linux does with a SYN when the queue is full depends on
``net.ipv4.tcp_syncookies``:

* 0: it drops the SYN (counted in TcpExtListenDrops and
  TcpExtTCPReqQFullDrop).  An honest client's SYN is dropped too: its
  connect() waits and resends its SYN (after 1 s, then 2 s more, ...,
  RFC 6298's initial RTO of 1 s, doubled each time);
* 1 (the default): it answers with a *SYN cookie*: a SYN-ACK whose ISN
  encodes the connection (a keyed hash of the 4-tuple and a time counter,
  and the MSS), and keeps nothing.  When the honest client's ACK arrives
  with ack = cookie + 1, the kernel checks the cookie and creates the
  connection from it (TcpExtSyncookiesSent, then TcpExtSyncookiesRecv).

:func:`syn_flood` shows both, in the emulated network only: the attacker
in "client2" sends ``flood`` SYNs from ports of the kit's hand-made range,
its own kernel kept quiet by lab/craft/guard.py (an RST from it would free
the server's queue); the honest client in "client1" connects with a
bounded timeout; the sysctl is set *in the server's namespace only*
(sysctls under net.ipv4 are per network namespace), and the counters are
read there with nstat before and after each phase.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from lab.craft import counters, members
from lab.craft.endpoint import RawEndpoint
from lab.craft.guard import HAND_PORTS, KernelGuard
from lab.craft.tcb import Outgoing

SHOWN = ("TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtTCPReqQFullDoCookies", "TcpExtSyncookiesSent",
         "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed")


@dataclass
class Phase:
    """One phase of the flood: the sysctl, the honest client's outcome, the counters that moved."""

    syncookies: int
    honest: str            # "connected in N ms" or "no connection within N s"
    connected: bool
    honest_port: int
    counters: dict = field(default_factory=dict)
    accepted: bool = False  # the chat server's log shows the honest client accepted


@dataclass
class FloodRun:
    """The whole experiment."""

    backlog: int
    flood: int
    attacker: str
    server: tuple[str, int]
    phases: list[Phase] = field(default_factory=list)
    synacks_to_attacker: int = 0
    guard_dropped: int = 0

    def to_dict(self) -> dict:
        """The run as plain JSON values (how the lesson records it in lab/data/lessons/)."""
        return {"backlog": self.backlog, "flood": self.flood, "attacker": self.attacker,
                "server": list(self.server), "phases": [vars(p) for p in self.phases],
                "synacks_to_attacker": self.synacks_to_attacker, "guard_dropped": self.guard_dropped}

    @classmethod
    def from_dict(cls, data: dict) -> "FloodRun":
        """The run that ``to_dict`` wrote (a recorded run, replayed without root)."""
        run = cls(data["backlog"], data["flood"], data["attacker"], tuple(data["server"]))
        run.phases = [Phase(**p) for p in data["phases"]]
        run.synacks_to_attacker, run.guard_dropped = data["synacks_to_attacker"], data["guard_dropped"]
        return run


def set_syncookies(net, value: int, host: str = "server") -> None:
    """Set net.ipv4.tcp_syncookies in ``host``'s namespace only."""
    from lab.net.netlab import NetlabError

    done = net.exec(host, ["sysctl", "-q", "-w", f"net.ipv4.tcp_syncookies={value}"], timeout=20)
    if done.returncode != 0:
        raise NetlabError(f"sysctl in {host} failed: {(done.stderr or '').strip()}")


def honest_connect(net, host: str, server: tuple[str, int], timeout: float) -> tuple[bool, str, int]:
    """connect() from ``host`` with a time limit: (connected?, what happened, local port)."""
    with net.inside(host):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((net.address(host), 0))
        port = sock.getsockname()[1]
        sock.settimeout(timeout)
        began = time.perf_counter()
        try:
            sock.connect(server)
        except (TimeoutError, socket.timeout):
            return False, f"no connection within {timeout:g} s (connect() timed out)", port
        except OSError as error:
            return False, f"connect() failed: {error.strerror}", port
        return True, f"connected in {(time.perf_counter() - began) * 1000:.1f} ms", port
    finally:
        sock.close()


def syn_flood(net, backlog: int = 4, flood: int = 32, honest_timeout: float = 3.0, attacker: str = "client2",
              honest: str = "client1") -> FloodRun:
    """Run both phases (syncookies 0, then 1) against a chat server whose listen() backlog is ``backlog``."""
    if not 0 < flood <= len(HAND_PORTS):
        raise ValueError(f"flood must be 1..{len(HAND_PORTS)} SYNs")
    server_addr = (net.address("server"), members.CHAT_PORT)
    run = FloodRun(backlog, flood, attacker, server_addr)
    server = members.start_server(net, backlog=backlog)
    ports = f"{HAND_PORTS.start}-{HAND_PORTS.start + flood - 1}"
    guard = KernelGuard(net, attacker, server_addr, ports).install()
    try:
        with RawEndpoint(net, attacker, (net.address(attacker), HAND_PORTS.start), server_addr,
                         capture_port=members.CHAT_PORT) as ep:
            for cookies in (0, 1):
                set_syncookies(net, cookies)
                before = counters.read(net, "server")
                if cookies == 0:
                    for k in range(flood):
                        ep.send(Outgoing("S", (0x5EED0000 + k * 7919) % 2**32),
                                send_as=(net.address(attacker), HAND_PORTS.start + k))
                    # The server answers the first `backlog` SYNs; wait (bounded) until it has.
                    deadline = time.monotonic() + 3
                    while time.monotonic() < deadline and _synacks(ep, server_addr) < backlog:
                        time.sleep(0.02)
                ok, what, port = honest_connect(net, honest, server_addr, honest_timeout)
                phase = Phase(cookies, what, ok, port)
                if ok:
                    phase.accepted = members.wait_event(
                        server, lambda e: e["kind"] == "accepted" and e["client"][1] == port, 3) is not None
                phase.counters = counters.changes(before, counters.read(net, "server"), SHOWN)
                run.phases.append(phase)
            run.synacks_to_attacker = _synacks(ep, server_addr)
        run.guard_dropped = guard.dropped()
    finally:
        guard.remove()
        set_syncookies(net, 1)
        server.stop()
    return run


def _synacks(ep: RawEndpoint, server: tuple[str, int]) -> int:
    return sum(1 for s in ep.segments if (s.src, s.sport) == server and s.flags & 0x12 == 0x12)

"""The nftables rule that keeps a host's own kernel out of a hand-made connection.

scapy writes packets straight onto the wire: the kernel of the host that
sends them knows nothing about the connection.  When the server's SYN-ACK
arrives, the kernel looks for a socket with that port, finds none, and does
what RFC 9293 says a closed port does with a segment (3.10.7.1): it answers
with an RST.  The server, reset, forgets the half-open connection before the
hand-made ACK arrives, and the handshake by hand fails.

The kit therefore adds, *in the crafting host's own namespace only*, a rule
in the input hook that drops the server's segments for the hand-made
connection (one port pair).  scapy still sees them: a packet socket receives
a copy as the packet comes off the (virtual) wire, before the IP layer and
its netfilter hooks.  The kernel's TCP never does, so it has nothing to
answer.  The rule counts what it dropped, which is how the lesson shows it
worked.  The classic alternative, dropping outgoing RSTs, would also drop
the RSTs the lesson forges on purpose.

Deleting the namespace deletes the table with it; :class:`KernelGuard` also
deletes it when its ``with`` block ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TABLE = "chatlab_craft"

# Ports the hand-made connections use: above Linux's default ephemeral range
# (net.ipv4.ip_local_port_range = 32768-60999), so the kernel never picks one
# of them for a socket of its own in the same host.
HAND_PORTS = range(61000, 62000)


def guard_ruleset(server: tuple[str, int], ports: str) -> str:
    """The nftables script: drop ``server``'s TCP segments to local ``ports`` ("61000" or "61000-61999").

    >>> print(guard_ruleset(("10.77.0.2", 5050), "61000"))  # doctest: +NORMALIZE_WHITESPACE
    table inet chatlab_craft {
      chain input {
        type filter hook input priority -10; policy accept;
        ip saddr 10.77.0.2 tcp sport 5050 tcp dport 61000 counter drop comment "hand-made connection: keep the kernel out"
      }
    }
    """
    host, port = server
    if not re.fullmatch(r"\d+(-\d+)?", ports):
        raise ValueError(f"ports must be a port or a range like 61000-61999, not {ports!r}")
    return (f"table inet {TABLE} {{\n"
            f"  chain input {{\n"
            f"    type filter hook input priority -10; policy accept;\n"
            f"    ip saddr {host} tcp sport {port} tcp dport {ports} counter drop "
            f"comment \"hand-made connection: keep the kernel out\"\n"
            f"  }}\n"
            f"}}\n")


def parse_dropped(listing: str) -> int:
    """How many packets the guard rule dropped, from ``nft list table inet chatlab_craft``.

    >>> parse_dropped('... counter packets 3 bytes 246 drop comment "x"')
    3
    """
    found = re.search(r"counter packets (\d+) bytes \d+ drop", listing)
    return int(found.group(1)) if found else 0


@dataclass
class KernelGuard:
    """The guard rule in ``host`` of a Netlab while a ``with`` block runs.

    ``ports`` is one local port or a range; ``dropped()`` reads the rule's
    counter (the segments the kernel was kept from seeing).
    """

    net: object  # lab.net.netlab.Netlab
    host: str
    server: tuple[str, int]
    ports: str

    def install(self) -> "KernelGuard":
        """Add the table (replacing an older one of the same name)."""
        script = f"add table inet {TABLE}\ndelete table inet {TABLE}\n" + guard_ruleset(self.server, self.ports)
        self._nft(["-f", "-"], script)
        return self

    def dropped(self) -> int:
        """Segments dropped so far."""
        return parse_dropped(self._nft(["list", "table", "inet", TABLE]))

    def remove(self) -> None:
        """Delete the table (nothing happens if it is gone already)."""
        self.net.exec(self.host, ["nft", "delete", "table", "inet", TABLE], timeout=20)

    def _nft(self, args: list[str], script: str | None = None) -> str:
        from lab.net.netlab import NetlabError

        done = self.net.exec(self.host, ["nft", *args], input=script, timeout=20)
        if done.returncode != 0:
            raise NetlabError(f"nft {' '.join(args)} in {self.host} failed: {(done.stderr or '').strip()}")
        return done.stdout

    def __enter__(self) -> "KernelGuard":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.remove()

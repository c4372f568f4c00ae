"""The kernel's TCP counters (nstat), read and compared: what each one counts (sans-I/O).

``nstat -asz`` prints every counter of the network namespace it runs in
(``-a`` absolute values, ``-s`` without touching nstat's history file,
``-z`` zeros too).  Counters are per network namespace, like the sysctls:
run in the server's host, it counts only that host's TCP.

>>> parse_nstat("#kernel\\nTcpExtSyncookiesSent            3                  0.0\\n")
{'TcpExtSyncookiesSent': 3}
>>> changes({"TcpExtListenDrops": 1}, {"TcpExtListenDrops": 4, "TcpExtSyncookiesSent": 0})
{'TcpExtListenDrops': 3}
"""

from __future__ import annotations

# The counters the lesson shows, and what each one counts (Linux's names).
MEANING = {
    "TcpExtListenDrops": "SYNs (and handshake ACKs) a listening socket dropped, for any reason",
    "TcpExtTCPReqQFullDrop": "SYNs dropped because the SYN queue was full and SYN cookies were off",
    "TcpExtTCPReqQFullDoCookies": "SYNs answered with a SYN cookie because the SYN queue was full",
    "TcpExtSyncookiesSent": "SYN-ACKs whose ISN is a SYN cookie (no state kept for them)",
    "TcpExtSyncookiesRecv": "handshake ACKs that carried a valid cookie: connections made from a cookie",
    "TcpExtSyncookiesFailed": "ACKs with a cookie that did not check out",
    "TcpExtTCPChallengeACK": "challenge ACKs sent (RFC 5961: an RST or SYN in the window, but not exact)",
    "TcpExtTCPACKSkippedChallenge": "challenge ACKs not sent because of the rate limit",
    "TcpExtListenOverflows": "handshakes completed while the accept queue was full (dropped)",
}


def parse_nstat(text: str) -> dict[str, int]:
    """Counter name -> value from ``nstat -asz`` output."""
    counters = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#") and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


def changes(before: dict[str, int], after: dict[str, int], names=None) -> dict[str, int]:
    """The counters that moved between two readings (only ``names`` if given), and by how much."""
    keys = names if names is not None else sorted(set(before) | set(after))
    moved = {name: after.get(name, 0) - before.get(name, 0) for name in keys}
    return {name: delta for name, delta in moved.items() if delta}


def read(net, host: str) -> dict[str, int]:
    """Every TCP/IP counter of ``host``'s namespace, now (runs ``nstat -asz`` there)."""
    from lab.net.netlab import NetlabError

    done = net.exec(host, ["nstat", "-asz"], timeout=20)
    if done.returncode != 0:
        raise NetlabError(f"nstat in {host} failed: {(done.stderr or '').strip()} (apt install iproute2)")
    return parse_nstat(done.stdout)

"""The kernel's view of sockets: /proc/net/tcp, TCP states, binding, free ports."""

from __future__ import annotations

import socket
from pathlib import Path

from lab.notebook.display import show, table
from lab.notebook.settings import HOST


TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}


def _hex_ipv4(text: str) -> str:
    # /proc/net/tcp prints the address as the 32-bit number in host byte order (little endian).
    raw = bytes.fromhex(text)
    return socket.inet_ntop(socket.AF_INET, raw[::-1])


def parse_proc_net_tcp(text: str) -> list[dict]:
    """The IPv4 sockets in the text of /proc/net/tcp: local, remote, state (pure)."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4:
            continue
        (lip, lport), (rip, rport) = (p.split(":") for p in parts[1:3])
        rows.append({"local": f"{_hex_ipv4(lip)}:{int(lport, 16)}",
                     "remote": f"{_hex_ipv4(rip)}:{int(rport, 16)}",
                     "state": TCP_STATES.get(parts[3].upper(), parts[3])})
    return rows


def sockets(port: int) -> list[dict]:
    """This machine's TCP sockets (IPv4) whose local or remote port is ``port``, like `ss -tan`."""
    try:
        text = Path("/proc/net/tcp").read_text()
    except OSError:
        return []
    mine = [r for r in parse_proc_net_tcp(text)
            if r["local"].endswith(f":{port}") or r["remote"].endswith(f":{port}")]
    order = {"LISTEN": 0}
    return sorted(mine, key=lambda r: (order.get(r["state"], 1), r["local"], r["remote"]))


def show_sockets(port: int, title: str | None = None) -> list[dict]:
    """Show the kernel's sockets on ``port`` (what `ss -tan sport = :PORT or dport = :PORT` shows)."""
    rows = sockets(port)
    show(table(rows, title or f"the kernel's TCP sockets with port {port}", ["local", "remote", "state"]))
    return rows


def try_bind(port: int, reuseaddr: bool) -> str:
    """Try to bind and listen on 127.0.0.1:``port``; say what happened (the socket is closed again)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if reuseaddr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(1)
        return f"SO_REUSEADDR={int(reuseaddr)}: bind() to port {port} succeeded"
    except OSError as exc:
        return f"SO_REUSEADDR={int(reuseaddr)}: bind() to port {port} failed: [Errno {exc.errno}] {exc.strerror}"
    finally:
        sock.close()


def tcp_state(sock: socket.socket) -> str:
    """The kernel's TCP state of ``sock`` (from TCP_INFO), e.g. ESTABLISHED, CLOSE_WAIT."""
    from lab.net.tcpinfo import read_tcp_info

    info = read_tcp_info(sock)
    return info.state if info else "unknown (TCP_INFO is Linux only)"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (to start a capture before the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_for_state(port: int, state: str, timeout: float = 2.0) -> list[dict]:
    """Wait (at most ``timeout`` s) until a socket with ``port`` is in ``state``; return the sockets of that port."""
    import time

    deadline = time.monotonic() + timeout
    rows = sockets(port)
    while not any(r["state"] == state for r in rows) and time.monotonic() < deadline:
        time.sleep(0.02)
        rows = sockets(port)
    return rows


def same_four_tuple(listener: socket.socket, times: int = 2, pause: float = 0.25) -> list[int]:
    """Connect to ``listener`` ``times`` times from ONE client port, ``pause`` s apart, then once from another.

    Each connection is aborted at once with an RST (SO_LINGER on, 0 s, on
    both ends): that leaves no TIME_WAIT, so the very same 4-tuple (client
    address and port, server address and port) can be used again at once.
    Returns the client ports used.
    """
    import struct
    import time

    abort = struct.pack("ii", 1, 0)
    ports: list[int] = []
    for i in range(times + 1):
        if i:
            time.sleep(pause)  # the experiment: the same 4-tuple, a quarter of a second later
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            client.bind((HOST, ports[0] if ports and i < times else 0))
            client.settimeout(5)
            client.connect(listener.getsockname())
            listener.settimeout(5)
            accepted, _ = listener.accept()
            ports.append(client.getsockname()[1])
            for end in (client, accepted):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, abort)
            accepted.close()
        finally:
            client.close()
    return ports


def wait_for_tcp_state(sock: socket.socket, state: str, timeout: float = 2.0) -> str:
    """Wait (at most ``timeout`` s) until ``sock``'s TCP state (TCP_INFO) is ``state``; return the state it has."""
    import time

    deadline = time.monotonic() + timeout
    current = tcp_state(sock)
    while current != state and time.monotonic() < deadline:
        time.sleep(0.01)
        current = tcp_state(sock)
    return current


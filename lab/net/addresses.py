"""Addresses: the one ``Address`` type, and which addresses this machine can be reached on."""

from __future__ import annotations

# No module-level ``import socket``: the sans-I/O cores (lab/udp/server_core.py,
# lab/lifecycle.py) import ``Address`` from here and stay free of socket code.

Address = tuple
"""(host, port), or IPv6's (host, port, flowinfo, scope_id): what the socket module gives and takes."""


def interface_addresses() -> list[tuple[str, str]]:
    """(interface, address) for every IPv4 and IPv6 address of this machine.

    Linux: read with the SIOCGIFADDR ioctl (IPv4) and /proc/net/if_inet6
    (IPv6).  Elsewhere: whatever the host name resolves to.
    """
    import socket

    found: list[tuple[str, str]] = []
    try:
        import fcntl
        import struct

        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with probe:
            for _, name in socket.if_nameindex():
                try:
                    request = struct.pack("256s", name.encode()[:15])
                    reply = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
                    found.append((name, socket.inet_ntoa(reply[20:24])))
                except OSError:
                    continue  # no IPv4 address on this interface
    except (ImportError, OSError, AttributeError):
        pass
    try:
        with open("/proc/net/if_inet6") as table:
            for row in table:
                fields = row.split()
                if len(fields) >= 6 and not fields[0].startswith("fe80"):
                    raw = bytes.fromhex(fields[0])
                    found.append((fields[5], socket.inet_ntop(socket.AF_INET6, raw)))
    except OSError:
        pass
    if not found:
        try:
            for info in socket.getaddrinfo(socket.gethostname(), None):
                found.append(("?", info[4][0]))
        except OSError:
            pass
    return found


def host_port(host: str, port: int) -> str:
    """``host:port`` as a person types it, with brackets around an IPv6 address (RFC 3986).

    >>> host_port("127.0.0.1", 5050), host_port("::1", 5050)
    ('127.0.0.1:5050', '[::1]:5050')
    """
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def reachable(host: str, port: int) -> list[str]:
    """The ``host:port`` strings clients can use to reach a server bound to ``host``.

    A server bound to one address is reached there; one bound to every
    address (``0.0.0.0``, or ``::`` for IPv6 and IPv4) on each address of
    this machine, with the interface's name.
    """
    if host not in ("0.0.0.0", "::", ""):
        return [host_port(host, port)]
    result = []
    for iface, address in interface_addresses():
        if host == "0.0.0.0" and ":" in address:
            continue
        result.append(f"{host_port(address, port)}  ({iface})")
    return result

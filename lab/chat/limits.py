"""Every default limit of the chat, written once.

The TCP server's ``ServerConfig``, the UDP core, the clients, the
command-line defaults and docs/PROTOCOL.md all take their numbers from here
(tests/chat/test_limits.py checks the documents against these values).  A
limit that is configurable is configured *from* this default; nothing else
writes the number again.

Each name says its unit: ``_BYTES``, ``_CHARS``, ``_S`` (seconds),
``_PER_S``, or a count.

>>> MAX_LINE_BYTES < MAX_UNTERMINATED_BYTES
True
>>> UDP_IDLE_TIMEOUT_S > 2 * UDP_KEEPALIVE_INTERVAL_S   # a keepalive may be lost and the member survives
True
"""

from __future__ import annotations

# --- where the chat listens ------------------------------------------------

DEFAULT_PORT = 5050
"""TCP and UDP port of ``chatlab server`` and ``chatlab client`` (the same number for both protocols)."""

LISTEN_BACKLOG = 1024
"""listen() backlog: completed handshakes the kernel queues until accept() takes them."""

# --- lines and names (both transports) ---------------------------------------

MAX_LINE_BYTES = 1024
"""Longest line a client may send, in bytes, not counting the line end."""

MAX_UNTERMINATED_BYTES = 8192
"""Bytes without any line end after which the TCP server gives up on a client."""

MAX_NAME_CHARS = 16
"""Longest name, in characters (names are ASCII, so also in bytes)."""

HISTORY_SIZE = 20
"""Public messages a new member receives when it joins."""

# --- the TCP server --------------------------------------------------------------

MAX_CLIENTS = 1500
"""Clients at once (TCP connections, or verified UDP addresses)."""

SEND_QUEUE_BYTES = 64 * 1024
"""Output that may wait for one slow TCP client beyond its kernel send buffer."""

NAME_TIMEOUT_S = 60.0
"""Seconds a new TCP connection has to choose a name."""

RATE_LINES_PER_S = 10.0
"""Lines (UDP: datagrams) per second one member may send, sustained."""

BURST_LINES = 20
"""Lines one member may send at once before the rate limit applies."""

KEEPALIVE_IDLE_S = 60
"""TCP keepalive: the first probe after this many idle seconds..."""

KEEPALIVE_INTERVAL_S = 10
"""...then one probe every this many seconds..."""

KEEPALIVE_COUNT = 3
"""...and the peer is declared dead after this many unanswered probes."""

TLS_HANDSHAKE_TIMEOUT_S = 10.0
"""Seconds a client has to complete the TLS handshake (each in its own thread)."""

SHUTDOWN_GRACE_S = 1.5
"""Seconds the stopping server gives each client to receive its goodbye."""

# --- the TCP client -----------------------------------------------------------

CONNECT_TIMEOUT_S = 10.0
"""Seconds the client waits for connect() and for the server's first lines."""

MAX_SERVER_LINE_BYTES = 16 * 1024
"""Longest server line the client accepts (a real one is at most about 1.1 KB)."""

HELLO_PROBE_AFTER_S = 1.0
"""A chat-lab server greets at once; after this much silence the client sends
an empty line (which a chat server ignores) to make a TLS server answer."""

# --- the UDP chat ---------------------------------------------------------------

MAX_DATAGRAM_BYTES = 1200
"""Largest UDP payload the chat sends or accepts (see lab/udp/datagrams.py for why 1200)."""

JOIN_PADDING_BYTES = 64
"""Clients pad the join datagram to at least this many bytes, so the server's
cookie answer fits under the anti-amplification rule."""

UDP_IDLE_TIMEOUT_S = 30.0
"""Seconds without any datagram from a member before it is dropped ("timeout")."""

UDP_KEEPALIVE_INTERVAL_S = 10.0
"""The UDP client sends a keepalive when it has sent nothing for this long."""

COOKIE_LIFETIME_S = 60.0
"""A cookie is valid in the minute it was made and the next one."""

UDP_JOIN_ATTEMPTS = 20
"""Join datagrams the UDP client sends before it gives up..."""

UDP_JOIN_INTERVAL_S = 0.5
"""...one every this many seconds (any datagram may be lost)."""

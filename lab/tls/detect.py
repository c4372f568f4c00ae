"""Spotting protocol mix-ups from the first bytes of a connection (sans-I/O).

A TLS connection always starts with a TLS *record*: one byte of content
type, two bytes of protocol version, two bytes of length.  The client's
first record is a handshake record (content type 22 = 0x16) whose version is
0x03 0x0N (SSL 3.0 = 0x0300, TLS 1.0 = 0x0301 ... TLS 1.3 still writes
0x0301 or 0x0303 here), and its first handshake message is a ClientHello
(type 1).  A person typing into ``nc`` never starts a line with those bytes
(0x16 is Ctrl-V), so the plain server can recognise a TLS client on the
wrong port and answer it with one clear line.
"""

from __future__ import annotations

# The content type of a TLS handshake record, and of an alert record.
HANDSHAKE = 0x16
ALERT = 0x15
CLIENT_HELLO = 0x01

# What the two servers can say about a mix-up (the lead's server formats them
# as protocol lines; kept here so the wording is the same everywhere).
TLS_ON_PLAIN_PORT = (
    "this port speaks plain text, not TLS: connect without --tls "
    "(or to the server's TLS port)"
)
PLAIN_TEXT_ON_TLS_PORT = "not a TLS client (plain text on the TLS port)"


def looks_like_tls_client_hello(first_bytes: bytes) -> bool:
    """True if ``first_bytes`` (the first bytes a client sent) start a TLS handshake.

    Checks the record header: 0x16 (handshake), then 0x03 0x00-0x04 (the
    record version).  When the sixth byte has arrived it must be 0x01
    (ClientHello).  Fewer than three bytes are never taken for TLS: a real
    ClientHello arrives as one segment of 200-600 bytes.
    """
    data = bytes(first_bytes[:6])
    if len(data) < 3:
        return False
    if data[0] != HANDSHAKE or data[1] != 0x03 or data[2] > 0x04:
        return False
    if len(data) >= 6 and data[5] != CLIENT_HELLO:
        return False
    return True


def looks_like_tls_record(first_bytes: bytes) -> bool:
    """True if ``first_bytes`` could start any TLS record a server sends first
    (a handshake record, or an alert that refuses us)."""
    data = bytes(first_bytes[:2])
    if not data:
        return False
    if data[0] not in (HANDSHAKE, ALERT):
        return False
    return len(data) < 2 or data[1] == 0x03


def printable_excerpt(data: bytes, limit: int = 60) -> str:
    """The printable ASCII in ``data`` (other bytes become '.'), at most
    ``limit`` characters: safe to show a student in one line."""
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in data[:limit])
    return text.strip(". ")

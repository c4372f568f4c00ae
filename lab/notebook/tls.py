"""Lesson 7 helpers: TLS records on the wire, and the same chat in plain text and encrypted.

Reading the capture needs only the record headers and the two messages
TLS sends in clear (ClientHello, ServerHello); everything else is checked
by its length: in TLS 1.3 a record of application data is the plaintext
plus 1 byte (the real content type, RFC 8446 5.2) plus the AEAD tag
(16 bytes for AES-GCM and ChaCha20-Poly1305), behind a 5-byte header.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from lab.notebook.claims import Claim
from lab.peer import Peer as ChatPeer


TLS_CONTENT_TYPES = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
TLS_HANDSHAKE_TYPES = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 8: "EncryptedExtensions",
                       11: "Certificate", 13: "CertificateRequest", 15: "CertificateVerify", 20: "Finished"}


def tls_records(stream: bytes) -> list[dict]:
    """Split one direction's TCP bytes into TLS records: type, version, length (pure).

    Only the 5-byte record header is readable; what follows is encrypted,
    except the first handshake messages (ClientHello, ServerHello).
    """
    out = []
    i = 0
    while i + 5 <= len(stream):
        ctype, major, length = stream[i], stream[i + 1], int.from_bytes(stream[i + 3:i + 5], "big")
        if ctype not in TLS_CONTENT_TYPES or major != 3:
            break
        body = stream[i + 5:i + 5 + length]
        what = TLS_CONTENT_TYPES[ctype]
        if ctype == 22 and body and body[0] in TLS_HANDSHAKE_TYPES and body[0] in (1, 2):
            what += f" ({TLS_HANDSHAKE_TYPES[body[0]]}, readable)"
        elif ctype == 23:
            what += " (encrypted)"
        out.append({"record": len(out) + 1, "type": what, "header": stream[i:i + 5].hex(" "), "length": length,
                    "first bytes": body[:12].hex(" ")})
        i += 5 + length
    return out


# The cipher suites a lab server may choose (RFC 8446 B.4; RFC 5289; RFC 7905), and their tag length.
CIPHER_SUITES = {0x1301: ("TLS_AES_128_GCM_SHA256", 16), 0x1302: ("TLS_AES_256_GCM_SHA384", 16),
                 0x1303: ("TLS_CHACHA20_POLY1305_SHA256", 16),
                 0xC02B: ("ECDHE-ECDSA-AES128-GCM-SHA256", 16), 0xC02C: ("ECDHE-ECDSA-AES256-GCM-SHA384", 16),
                 0xC02F: ("ECDHE-RSA-AES128-GCM-SHA256", 16), 0xC030: ("ECDHE-RSA-AES256-GCM-SHA384", 16),
                 0xCCA8: ("ECDHE-RSA-CHACHA20-POLY1305", 16), 0xCCA9: ("ECDHE-ECDSA-CHACHA20-POLY1305", 16)}
TLS13_RECORD_OVERHEAD = 5 + 1 + 16  # header, inner content type, tag: 22 bytes per record


def _hello_extensions(body: bytes, server: bool) -> tuple[int, dict[int, bytes]]:
    """(cipher suite or 0, {extension type: data}) of a ClientHello / ServerHello body (after its 4-byte header)."""
    i = 2 + 32  # legacy version, random
    sid = body[i]
    i += 1 + sid
    if server:
        cipher = struct.unpack_from("!H", body, i)[0]
        i += 2 + 1  # cipher suite, compression method
    else:
        cipher = 0
        i += 2 + struct.unpack_from("!H", body, i)[0]  # cipher suites offered
        i += 1 + body[i]  # compression methods
    extensions: dict[int, bytes] = {}
    if i + 2 <= len(body):
        end = i + 2 + struct.unpack_from("!H", body, i)[0]
        i += 2
        while i + 4 <= min(end, len(body)):
            kind, size = struct.unpack_from("!HH", body, i)
            extensions[kind] = body[i + 4:i + 4 + size]
            i += 4 + size
    return cipher, extensions


def _first_handshake(stream: bytes, kind: int) -> bytes | None:
    """The body of the first handshake message of ``kind`` (1 ClientHello, 2 ServerHello) in one direction."""
    if len(stream) < 9 or stream[0] != 22 or stream[5] != kind:
        return None
    length = int.from_bytes(stream[6:9], "big")
    return stream[9:9 + length]


def sni(client_stream: bytes) -> str | None:
    """The server name the ClientHello carries (SNI, RFC 6066 section 3), or None when it names none."""
    body = _first_handshake(client_stream, 1)
    if body is None:
        return None
    _, extensions = _hello_extensions(body, server=False)
    data = extensions.get(0)
    if not data or len(data) < 5:
        return None
    size = struct.unpack_from("!H", data, 3)[0]
    return data[5:5 + size].decode("ascii", "replace")


def negotiated(server_stream: bytes) -> tuple[str, str, int]:
    """(TLS version, cipher suite, tag bytes) chosen in the ServerHello (readable on the wire)."""
    body = _first_handshake(server_stream, 2)
    if body is None:
        return "?", "?", 0
    cipher, extensions = _hello_extensions(body, server=True)
    version = "TLS 1.3" if extensions.get(43) == b"\x03\x04" else "TLS 1.2"
    name, tag = CIPHER_SUITES.get(cipher, (f"0x{cipher:04x}", 0))
    return version, name, tag


def record_claims(client_stream: bytes, server_stream: bytes, lines: list[bytes]) -> list[Claim]:
    """Each chat line the client sent is one TLS record exactly 22 bytes longer (TLS 1.3, 16-byte tag)."""
    version, cipher, tag = negotiated(server_stream)
    app = [r["length"] for r in tls_records(client_stream) if r["type"].startswith("ApplicationData")]
    wanted = [len(line) + 1 + tag for line in lines]
    found, position = [], 0
    for size in wanted:  # the lines' records, in order, among the client's records
        while position < len(app) and app[position] != size:
            position += 1
        found.append(position < len(app))
        position += 1
    overhead = 5 + 1 + tag
    return [Claim(f"each chat line is one record {overhead} bytes longer than the line on the wire "
                  f"({version}, {cipher})", version == "TLS 1.3" and all(found) and bool(lines),
                  ", ".join(f"{len(line)} bytes -> {len(line) + overhead}" for line in lines)
                  + f" (5 header, 1 content type, {tag} tag)"
                  + ("" if all(found) else f"; not found among the record lengths {app}"))]


def sni_claims(by_name: bytes, by_address: bytes, name: str = "localhost") -> list[Claim]:
    """The ClientHello names the server (SNI) when a host name was dialled, and only then."""
    named, unnamed = sni(by_name), sni(by_address)
    return [Claim(f"dialling the name {name!r}, the ClientHello carries it in clear (SNI)", named == name,
                  f"server_name = {named!r}"),
            Claim("dialling an IP address, the ClientHello names no server", by_address[:1] == b"\x16" and
                  unnamed is None, "no server_name extension" if unnamed is None else f"server_name = {unnamed!r}")]


def flights(packets, stream: int) -> list[tuple[str, list]]:
    """The packets of one connection grouped into one-way trips: (sender, packets) in order.

    A trip is what one side sends before the other answers.  Packets that
    carry nothing (pure ACKs) do not count, except the handshake's third
    packet, which the server waits for before accept() returns.
    """
    out: list[tuple[str, list]] = []
    for a in packets:
        if a.stream != stream or a.segment.proto != "tcp":
            continue
        if not (a.segment.length or a.segment.flags & 0x02 or a.step == "ACK 3/3"):
            continue
        if out and out[-1][0] == a.role:
            out[-1][1].append(a)
        else:
            out.append((a.role, [a]))
    return out


def trips_to_first_line(packets, stream: int, tls: bool) -> int:
    """One-way trips up to the server's first chat line (its hello) on connection ``stream``.

    Plain text: the first server trip with data.  TLS 1.3: the first server
    trip with data after the client's Finished (its second trip with data:
    ClientHello, then Finished).
    """
    trips = flights(packets, stream)
    client_data = 0
    for number, (role, group) in enumerate(trips, 1):
        if role == "client" and any(a.segment.length for a in group):
            client_data += 1
        if role == "server" and any(a.segment.length for a in group) and client_data >= (2 if tls else 0):
            return number
    return 0


def round_trip_claims(plain_packets, tls_packets, stream: int = 0) -> list[Claim]:
    """TLS 1.3 adds one round trip before the first chat line."""
    plain = trips_to_first_line(plain_packets, stream, tls=False)
    tls = trips_to_first_line(tls_packets, stream, tls=True)
    return [Claim("TLS 1.3 adds one round trip before the server's first chat line", plain > 0 and tls == plain + 2,
                  f"plain text: {plain} one-way trips = {plain / 2:g} round trips; "
                  f"TLS: {tls} = {tls / 2:g} round trips")]


def tamper(paths) -> str:
    """One TLS 1.3 record with one bit flipped on the way: what the receiver's TLS does with it.

    Both ends run in memory (ssl.MemoryBIO), with the lab's certificates:
    the handshake, then the client encrypts a chat line; one bit of the
    ciphertext is flipped before the server reads it.  Returns the
    server's error (the tag no longer matches: the record is refused).
    """
    import ssl

    from lab.tls import client_context, server_context

    to_server, from_server, to_client, from_client = (ssl.MemoryBIO() for _ in range(4))
    server = server_context(paths.server_cert, paths.server_key).wrap_bio(to_server, from_server, server_side=True)
    client = client_context(paths.ca_cert).wrap_bio(to_client, from_client, server_hostname="localhost")

    def pump() -> None:
        to_server.write(from_client.read())
        to_client.write(from_server.read())

    for _ in range(10):  # the handshake: a few flights each way
        for end in (client, server):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
        pump()
        if client.version() and server.version() and not from_server.pending and not to_client.pending:
            break
    client.write(f"{SECRET}\n".encode())
    record = bytearray(from_client.read())
    record[10] ^= 0x01  # one bit of the ciphertext
    to_server.write(bytes(record))
    try:
        return f"the server read {server.read(1024)!r}: the change went unnoticed"
    except ssl.SSLError as exc:
        return f"ssl.SSLError: {exc.reason or exc}"


def find_text(data: bytes, text: str) -> str:
    """Where ``text`` appears in captured bytes, as a short excerpt, or a clear 'not found'."""
    at = data.find(text.encode())
    if at < 0:
        return f"{text!r} does not appear anywhere in the {len(data)} captured bytes"
    excerpt = data[max(0, at - 20):at + len(text) + 20]
    return f"found {text!r} at byte {at}: ...{excerpt!r}..."


def lab_ca(directory: str | os.PathLike) -> Any:
    """A lab CA and a server certificate for 127.0.0.1/localhost in ``directory`` (what `chatlab tls init` makes)."""
    from lab.tls.certs import init_lab_files

    paths, _names = init_lab_files(directory, hosts=["localhost"], ips=["127.0.0.1"], force=True)
    return paths


SECRET = "my password is hunter2"


def secret_chat(address: tuple[str, int], tls=None) -> list[str]:
    """alice and bob join, alice says SECRET, bob reads it, both /quit.  Returns bob's lines."""
    alice = bob = None
    try:
        alice = ChatPeer(address, "alice", tls=tls, server_hostname="localhost" if tls else None)
        bob = ChatPeer(address, "bob", tls=tls, server_hostname="localhost" if tls else None)
        alice.expect("bob joined")
        alice.send(SECRET)
        bob.expect(SECRET)
        bob.quit()
        alice.quit()
        return bob.lines
    finally:
        for peer in (alice, bob):
            if peer is not None:
                peer.close()

"""Lesson 7 helpers: TLS records on the wire, and the same chat in plain text and encrypted."""

from __future__ import annotations

import os
from typing import Any

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

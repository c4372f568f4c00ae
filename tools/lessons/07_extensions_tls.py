"""Lesson 7: the chat's extensions, and TLS: the same chat in plain text and encrypted."""

CELLS = [
("md", r"""
# Lesson 7 — The chat's extensions, and TLS

*About 35 minutes.*

The chat protocol ([docs/PROTOCOL.md](../docs/PROTOCOL.md)) is more than
broadcast: private messages, the list of members, history for newcomers,
timestamps, clear errors. Then: everything so far crossed the network **in
plain text**, readable by anyone who can capture it. **TLS** encrypts the
connection and proves the server's identity.

In this lesson you will:

1. use `/msg`, `/list`, `/help` and see the history a newcomer receives;
2. run the same chat through a plain server and a TLS server, capture both,
   and look for a password in each capture;
3. count the round trips TLS adds, read the TLS records in the capture,
   measure their overhead, see what the ClientHello tells everyone;
4. change one bit of a record, and see a client **refuse** a server whose
   certificate it cannot verify.

Exercises: [`exercises/ex07_extensions.py`](../exercises/ex07_extensions.py) (the room's rules:
timestamps, `/msg`, `/list`, history) and [`exercises/ex08_tls.py`](../exercises/ex08_tls.py)
(TLS contexts and verification). See [docs/EXERCISES.md](../docs/EXERCISES.md) and
[docs/TLS.md](../docs/TLS.md).
"""),
("code", r"""
from lab import notebook as nb
from lab.tls import TlsHandshakeError, client_context, server_context

lesson = nb.Lesson("7: extensions and TLS")
server = lesson.server()
alice = lesson.peer(server, "alice")
bob = lesson.peer(server, "bob")
alice.expect("bob joined")
print("alice and bob are in the room")
"""),
("md", r"""
## 1. The protocol's extensions

Every line the server sends has the shape `TIME KIND BODY`, where KIND says
what the line is (`<name>` a public message, `*name*` a private one for you,
`***` a room event, `---` information, `!!!` an error). The rule to parse it
is one regular expression, `lab.chat.wire.SERVER_LINE`, used by the client and
the tests.

**Predict:** alice sends a public message and a private one to bob with
`/msg bob ...`, then asks `/list` and tries `/dance`. What does each of them
receive?
"""),
("code", r"""
alice.send("hello everyone")
alice.send("/msg bob psst, the answer is listen()")
alice.send("/list")
alice.send("/dance")
nb.show_lines(alice.read(), "what alice receives")
nb.show_lines(bob.read(), "what bob receives")
"""),
("md", r"""
alice gets a copy of her private message (`->bob`), the answer to `/list`
and an error for the unknown command; her public message is *not* echoed to
her. bob gets the public message and the private one (`*alice*`).

**Predict:** carol joins now. Does she see the messages sent before she came?
All of them?
"""),
("code", r"""
carol = lesson.peer(server, "carol")
nb.show_lines(carol.lines, "what carol received while joining")
"""),
("md", r"""
The server keeps the last 20 *public* messages and sends them to each new
member between `--- history:` and `--- history-end:`, with their original
times. The private message is not in the history: only bob ever sees it.

## 2. The same chat, plain and encrypted

A **certificate** says "this public key belongs to this server name", and is
signed by a **certificate authority** (CA). `chatlab tls init` makes a small
lab CA and a server certificate signed by it; the instructor hands out the
CA's certificate, `ca.pem`, and clients trust servers whose certificate it
signed. We make one in a temporary directory:
"""),
("code", r"""
paths = nb.lab_ca(lesson.tempdir() / "tls")
print("CA certificate (hand this out):", paths.ca_cert.name)
print("server certificate and key:   ", paths.server_cert.name, paths.server_key.name)

plain_server = lesson.server()
tls_server = lesson.server(tls=server_context(paths.server_cert, paths.server_key))
cap_plain = lesson.capture(plain_server.address[1], "07-plain")
cap_tls = lesson.capture(tls_server.address[1], "07-tls")
print("plain chat server on port", plain_server.address[1], "| TLS chat server on port", tls_server.address[1])
"""),
("md", r"""
Now the same little chat against both servers: alice and bob join, alice
writes **`my password is hunter2`**, bob reads it, both leave. The TLS
clients trust our CA (`client_context(ca.pem)`), so they verify the server.

**Predict:** in which capture can an eavesdropper find `hunter2`? Does bob
receive the same text in both cases?
"""),
("code", r"""
trust_lab_ca = client_context(paths.ca_cert)
print("bob (plain) received:", nb.secret_chat(plain_server.address)[-2:])
print("bob (TLS)   received:", nb.secret_chat(tls_server.address, tls=trust_lab_ca)[-2:])
print()
print("plain capture:", nb.find_text(cap_plain.payloads(), nb.SECRET))
print("TLS capture:  ", nb.find_text(cap_tls.payloads(), nb.SECRET))
"""),
("md", r"""
Same chat for bob; on the wire, the plain-text capture shows the password to
anyone who can capture, and the TLS capture does not contain it anywhere.

**Predict:** TLS adds its own handshake on top of TCP's. How many more
packets does a TLS connection need before the server's first chat line (its
`--- hello:`)? How many more *round trips*, the number that matters on a
slow network?
"""),
("code", r"""
cap_plain.summary("plain text")
cap_tls.summary("TLS")
plain_packets, tls_packets = cap_plain.next_step(), cap_tls.next_step()
for label, packets, tls in (("plain text", plain_packets, False), ("TLS", tls_packets, True)):
    trips = nb.tls.flights(packets, 0)[:nb.tls.trips_to_first_line(packets, 0, tls)]
    print(f"{label}: " + " | ".join(f"{who} {sum(a.segment.length for a in group)} B" for who, group in trips))
nb.check(nb.tls.round_trip_claims(plain_packets, tls_packets), source=cap_tls)
"""),
("md", r"""
Each `|` above is one trip across the network, client and server taking
turns (with the bytes each trip carried; pure ACKs left out). In plain text
the server's hello comes after two round trips: SYN / SYN-ACK, then the
client's ACK and the hello. TLS 1.3 adds **one round trip**: the client's
**ClientHello** rides with the end of the TCP handshake; the server answers
with its **ServerHello** and, already encrypted, its certificate, a
signature proving it holds the key, and its **Finished**; the client checks
all of it and sends its own Finished; only then does the server send
application data (here two session tickets, for a faster next connection,
and the hello). TLS 1.2 needed two round trips for the same.

What can an eavesdropper still read? The record **headers**: type, version
and length. Here are the records the client sent on the first TLS connection:
"""),
("code", r"""
alice_tls = cap_tls.payloads(role="client", stream=0)
server_tls = cap_tls.payloads(role="server", stream=0)
nb.show(nb.table(nb.tls_records(alice_tls), "TLS records sent by alice's client (one TCP direction, reassembled)"))
version, cipher, tag = nb.tls.negotiated(server_tls)
print(f"negotiated in the (readable) ServerHello: {version}, {cipher}")
"""),
("md", r"""
First a **Handshake** record with the **ClientHello**. It is readable: it
offers versions and ciphers, and, because alice's client dialled a host
*name* (`localhost`), it carries that name in clear (SNI, *Server Name
Indication*, so that one address can host several names). Then usually a
one-byte **ChangeCipherSpec** (TLS 1.3 keeps it only so that old middleboxes
let the connection through), then only **ApplicationData** records: from TLS
1.3 on, even the rest of the handshake travels encrypted inside them (the
first one, 69 bytes, is alice's Finished).

**Predict:** alice's client sent three chat lines: its name `alice` (6 bytes
with the line end), the 23-byte password line, and `/quit` (6 bytes). How
long is each record on the wire?
"""),
("code", r"""
nb.check(nb.tls.record_claims(alice_tls, server_tls, [b"alice\n", f"{nb.SECRET}\n".encode(), b"/quit\n"]),
         source=cap_tls)
"""),
("md", r"""
Exactly **22 bytes** more per record with TLS 1.3 and an AES-GCM cipher (the
server chose AES-256-GCM): the 5-byte record header, 1 byte naming the real
content type (hidden inside the encryption), and a 16-byte authentication
**tag**. So the *lengths* still leak (how long each line is), and so do the
timing and the IP addresses and ports: TLS protects the content, not the
fact that you talk.

**Predict:** carol connects to the same TLS server by its *address*,
`127.0.0.1`, not by name (the lab certificate lists both). What does her
ClientHello say about the server's name?
"""),
("code", r"""
carol_tls = lesson.peer(tls_server, "carol", tls=trust_lab_ca, server_hostname="127.0.0.1")
carol_tls.quit()
nb.check(nb.tls.sni_claims(cap_tls.payloads(role="client", stream=0), cap_tls.payloads(role="client", stream=2)),
         source=cap_tls)
"""),
("md", r"""
No name at all: SNI carries host names only (RFC 6066 section 3: "literal
IPv4 and IPv6 addresses are not permitted"). An eavesdropper learns the
server's name from the ClientHello when a name was dialled, and from the
address in every packet anyway. (Encrypted Client Hello, a newer extension,
hides the name; the kit does not use it.)

## 3. Integrity: a changed bit is refused

Encryption hides the content. The **tag** on every record also proves it
was not changed on the way: the receiver recomputes it with the shared key,
and a record whose tag does not match is refused, and the connection ends
with an alert. TLS gives **integrity** as well as confidentiality.

**Predict:** someone on the path flips one bit of alice's encrypted record.
Without the key they cannot know what they changed. What does the server
receive?
"""),
("code", r"""
tampered = nb.tls.tamper(paths)
print("one bit flipped in the record:", tampered)
nb.check(nb.Claim("a record changed on the way is refused, not delivered", tampered.startswith("ssl.SSLError"),
                  tampered))
"""),
("md", r"""
The server's TLS refuses the record (`DECRYPTION_FAILED_OR_BAD_RECORD_MAC`)
instead of handing altered bytes to the chat. (Both ends of this one ran in
memory, with `ssl.MemoryBIO`, so that we could change a byte between them.)

## 4. Verification: encryption alone is not enough

Encryption to the wrong machine protects nothing. The client therefore checks
that the server's certificate is signed by a CA it trusts *and* made out to
the name it connected to.

**Predict:** a client that trusts *another* CA (a different `ca.pem`) connects
to our TLS server. What happens?
"""),
("code", r"""
other_ca = nb.lab_ca(lesson.tempdir() / "other")
try:
    lesson.peer(tls_server, "mallory", tls=client_context(other_ca.ca_cert), server_hostname="localhost")
except TlsHandshakeError as error:
    print("the client refused the server:", error)
"""),
("md", r"""
The handshake fails *before* any chat byte is sent, and the error says what
to do. (`chatlab client --insecure` switches verification off: encrypted, but
to whoever answered. Never outside the lab.)

**Predict:** someone connects to the TLS port with plain text (`nc`, or
`chatlab client` without `--tls`). What do they get?
"""),
("code", r"""
confused = lesson.peer(tls_server)
confused.send("alice")
print(confused.read(quiet=0.5))
"""),
("md", r"""
The server recognises plain text where a ClientHello should be, answers in
plain text with the `tls-required` error and closes.

## Summary

* The chat's extensions are all in the line protocol: `/msg`, `/list`,
  history, timestamps, clear errors, parseable by one rule.
* Without TLS, anyone who can capture the traffic reads every line.
  With TLS, the content is encrypted and protected against changes (each
  record carries a 16-byte tag: 22 bytes of overhead per record with TLS 1.3
  and AES-GCM); addresses, ports, timing, record lengths and a dialled
  server name (SNI) still show.
* TLS 1.3 adds one round trip before the first chat line.
* TLS is only as good as its **verification**: trust the lab CA (`ca.pem`),
  check the name, and never use `--insecure` for real.

## Exercises

* [`exercises/ex07_extensions.py`](../exercises/ex07_extensions.py): the room's rules without
  sockets: timestamps, `/msg`, `/list`, history.
* [`exercises/ex08_tls.py`](../exercises/ex08_tls.py): build the SSL contexts, wrap the sockets,
  and make verification fail for the right reasons.
* In class: `chatlab tls init --ip YOUR-LAN-IP`, `chatlab server --tls`, hand out
  `ca.pem`; students run `chatlab client --tls --cafile ca.pem YOUR-LAN-IP`
  (docs/INSTRUCTOR.md and docs/TLS.md).
"""),
("code", r"""
lesson.cleanup();
"""),
]

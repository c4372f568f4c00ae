"""Lesson 1: sockets, ports and the three-way handshake."""

CELLS = [
("md", r"""
# Lesson 1 — Sockets, ports and the three-way handshake

*About 30 minutes. Run the cells from top to bottom (Shift-Enter); nothing needs editing.*

A **socket** is the handle a program uses to talk over the network. A TCP
connection joins two sockets, each named by an **IP address** (which machine)
and a **port** (which program on that machine, a number from 1 to 65535).

In this lesson you will:

1. start the chat server: a socket that **listens** on a port;
2. connect a client and capture, packet by packet, the **three-way handshake**
   (SYN, SYN-ACK, ACK) the two kernels perform before any data flows;
3. follow the **sequence** and **acknowledgement numbers** as the first bytes cross;
4. see what happens when nothing listens on a port (**RST**, "connection refused");
5. draw the whole connection as a **ladder diagram**.

Each *Predict* question comes before the cell that answers it: write your
answer down (or say it out loud) first, then run the cell.

Exercises for this lesson: [`exercises/ex01_echo.py`](../exercises/ex01_echo.py) (a TCP echo server
and client) and [`exercises/ex09_wire.py`](../exercises/ex09_wire.py) (reading a capture);
see [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
from lab import notebook as nb

lesson = nb.Lesson("1: sockets, ports and the three-way handshake")
"""),
("md", r"""
The table above says whether this machine lets the notebook **capture packets**
(it needs root or the CAP_NET_RAW capability). If it does not, every capture
below is replaced by one *recorded* with this same notebook, and a note says so.

## 1. A server that listens

The chat server creates a TCP socket, **binds** it to an address and a port,
and calls **listen()**. From then on the *kernel* answers connection requests
for that port by itself. We ask for port 0, which means "any free port": the
kernel picks one (in class you would use the default, 5050).
"""),
("code", r"""
server = lesson.server()
host, port = server.address
print(f"the chat server listens on {host} port {port}")
nb.events(server.log)
"""),
("md", r"""
`ss -tan` (or `netstat -tan`) lists the kernel's TCP sockets. The helper below
reads the same table (`/proc/net/tcp`) and keeps the sockets that use our port.
"""),
("code", r"""
nb.show_sockets(port);
"""),
("md", r"""
**Predict:** we now start capturing every packet to or from this port. No
client has connected yet. How many packets will the capture contain?
"""),
("code", r"""
cap = lesson.capture(port, "01-handshake")
cap.show_new("before any client");
"""),
("md", r"""
None: a listening socket sends nothing. It only waits.

## 2. connect(): the three-way handshake

A client creates its own socket and calls **connect((host, port))**. It does
not choose its own port: its kernel picks a free **ephemeral port** for it.

**Predict:** `connect()` returns once the connection is established. How many
packets must have crossed by then, in which directions, and with which TCP
flags? (We do *not* send a name yet.)
"""),
("code", r"""
alice = lesson.peer(server)          # connect() only; no name sent yet
print(f"connected from {alice.local[0]} port {alice.local[1]} (the ephemeral port)")
print(f"to {alice.server[0]} port {alice.server[1]}")
print(f"connect() took {alice.connect_ms:.3f} ms: the time of the handshake")
"""),
("code", r"""
cap.show_new("what connect() caused");
"""),
("md", r"""
Read the first three rows:

| # | flags | who | meaning |
|---|---|---|---|
| 1 | `S` (SYN) | client → server | "I want to connect; my bytes will be numbered from my ISN" |
| 2 | `SA` (SYN + ACK) | server → client | "accepted; here is my own ISN; I acknowledge your SYN" |
| 3 | `A` (ACK) | client → server | "I acknowledge your SYN": the connection is **established** |

Each side picks a random **initial sequence number** (ISN). Wireshark, and
this kit, show *relative* numbers: the ISN is shown as 0. A SYN counts as one
byte, so the first data byte is number 1 and the SYN-ACK acknowledges 1.

Then the chat server *speaks first*: a data segment (flags `AP`, with some
bytes) carrying its `--- hello:` line, which the client's kernel acknowledges
(`A`). Your program did none of the handshake: `listen()` told the server's
kernel to answer SYNs, `connect()` told the client's kernel to send one.

**Predict:** relative numbers start at 0, but what do the *real* numbers in the
packets look like, and are the client's and the server's the same?
"""),
("code", r"""
handshake = cap.next_step()[:3]
nb.show(nb.table([{"packet": a.segment.number, "flags": a.flags, "sender": a.role,
                   "raw seq (on the wire)": a.segment.seq, "relative seq": a.seq,
                   "raw ack": a.segment.ack if "A" in a.flags else "", "relative ack": a.ack if "A" in a.flags else ""}
                  for a in handshake], "the handshake, raw and relative numbers"))
"""),
("md", r"""
The raw numbers are large and unrelated: each kernel picks a hard-to-guess ISN
for every connection (so that a segment left over from an old connection, or
forged by an attacker, is unlikely to fit the new one). The
acknowledgement number is always *the next byte number the sender expects to
receive*: the SYN-ACK's raw ack is the client's ISN + 1.

## 3. The first bytes: sequence and acknowledgement numbers

Now alice sends her name. A line is the text plus a line end: `alice\n` is
**6 bytes**. Her next byte number is 1 (the SYN took 0).

**Predict:** what relative *seq* will her data segment carry, and what *ack*
number will the server's acknowledgement carry?
"""),
("code", r"""
alice.send("alice")
alice.expect("welcome")
cap.show_new("alice sends her name");
"""),
("md", r"""
Her segment has seq 1 and length 6, so it covers bytes 1 to 6; the server
answers with **ack 7**: "I have everything before byte 7". The server's
welcome line then goes the other way, with the server's own numbering, and
alice's kernel acknowledges it in turn. Each direction has its own numbers:
TCP is two byte streams, one each way.

**Predict:** the client and the server run on this same machine. How many
sockets with our port does the kernel have now, and in which states?
"""),
("code", r"""
nb.show_sockets(port);
"""),
("md", r"""
Three: the **listening** socket (remote address `0.0.0.0:0`: no peer), the
server's end of the connection (local port = the server's port), and the
client's end (local port = the ephemeral port). `accept()` gave the server a
*new* socket for this one connection; the listening socket keeps listening.

## 4. When nothing listens: RST

**Predict:** a client connects to a port where no program listens. What does
the other machine's kernel answer to the SYN, and what does `connect()` do?
"""),
("code", r"""
closed_port = nb.free_port()               # a port nobody listens on
cap_refused = lesson.capture(closed_port, "01-refused")
try:
    lesson.peer((nb.HOST, closed_port))
except ConnectionRefusedError as error:
    print("connect() raised ConnectionRefusedError:", error)
cap_refused.show_new("connect() to a closed port");
"""),
("md", r"""
The kernel answers the SYN with an **RST** (reset, here with ACK): "no
connection here". `connect()` fails at once with *connection refused*. (A
firewall that silently *drops* the SYN gives a different symptom: the client
resends the SYN a few times and `connect()` ends with a timeout.)

## 5. Closing, and the whole connection as a ladder

alice leaves with `/quit`. The server answers `bye` and closes; alice reads
until `recv()` returns `b''` and closes too. Lesson 5 is about closing; for
now just notice the two **FIN** segments, one per direction.
"""),
("code", r"""
alice.quit()
cap.show_new("/quit and the close");
"""),
("md", r"""
A **ladder diagram** (or sequence diagram) draws each packet as an arrow from
the sender's line to the receiver's, time going down. This is the picture to
keep in mind for every TCP connection: handshake, data and ACKs both ways,
then one FIN per direction.
"""),
("code", r"""
cap.ladder(0)
"""),
("md", r"""
## Summary

* A server **binds** a port and **listens**; the kernel then completes the
  **three-way handshake** (SYN, SYN-ACK, ACK) for every client by itself.
* The client's port is an **ephemeral port** chosen by the client's kernel.
* Every byte has a **sequence number**; the **ACK number** is the next byte
  expected. SYN and FIN each count as one.
* A SYN to a port where nothing listens gets an **RST**: connection refused.

## Exercises

* [`exercises/ex01_echo.py`](../exercises/ex01_echo.py): write the echo server and client
  (`socket`, `bind`, `listen`, `accept`, `connect`, `recv` until `b''`).
  Test: `python -m pytest tests/graded/test_ex01_echo.py`.
* [`exercises/ex09_wire.py`](../exercises/ex09_wire.py): read a pcap, label the handshake and
  compute relative sequence numbers as Wireshark does.
* At a terminal: `sudo .venv/bin/chatlab sniff --port 5050` while you run
  `chatlab server` and `chatlab client 127.0.0.1 --name you` in two others.

See [docs/EXERCISES.md](../docs/EXERCISES.md) for how the exercises are graded.

The last cell stops everything this lesson started (it also happens when the
kernel stops, but run it).
"""),
("code", r"""
lesson.cleanup();
"""),
]

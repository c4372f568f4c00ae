"""Lesson 1: sockets, ports and the three-way handshake."""

CELLS = [
("md", r"""
# Lesson 1 — Sockets, ports and the three-way handshake

*About 35 minutes. Run the cells from top to bottom (Shift-Enter); nothing needs editing.*

A **socket** is the handle a program uses to talk over the network. A TCP
connection joins two sockets, each named by an **IP address** (which machine)
and a **port** (which program on that machine, a number from 1 to 65535).

In this lesson you will:

1. start the chat server: a socket that **listens** on a port;
2. connect a client and capture, packet by packet, the **three-way handshake**
   (SYN, SYN-ACK, ACK) the two kernels perform before any data flows;
3. see where the first sequence number (the **ISN**) comes from;
4. follow the **sequence** and **acknowledgement numbers** as the first bytes cross;
5. see what happens when nothing listens on a port (**RST**, "connection refused");
6. close the connection and draw it as a **ladder diagram**.

Each *Predict* question comes before the cell that answers it: write your
answer down (or say it out loud) first, then run the cell. Cells that start
with `nb.check` test the lesson's statements on the packets this run just
captured: each ✓ line is a claim the wire confirmed (if the wire ever
disagreed, the cell would stop with an error).

Exercises for this lesson: [`exercises/ex01_echo.py`](../exercises/ex01_echo.py) (a TCP echo server
and client) and [`exercises/ex09_wire.py`](../exercises/ex09_wire.py) (reading a capture);
see [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
import time
from lab import notebook as nb

lesson = nb.Lesson("1: sockets, ports and the three-way handshake")
"""),
("md", r"""
The table above says whether this machine lets the notebook **capture packets**
(it needs root or the CAP_NET_RAW capability). If it does not, every capture
below is replaced by one *recorded* with this same notebook, and a note says so;
the checks then run on the recorded packets.

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

**Predict:** how many packets cross before `connect()` returns, in which
directions, and with which TCP flags? (We do *not* send a name yet.)
"""),
("code", r"""
began = time.time()
alice = lesson.peer(server)          # connect() only; no name sent yet
returned = time.time()
print(f"connected from {alice.local[0]} port {alice.local[1]} (the ephemeral port)")
print(f"to {alice.server[0]} port {alice.server[1]}; connect() took {alice.connect_ms:.3f} ms")
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

`connect()` returns as soon as the **SYN-ACK** arrives: about one round trip
(SYN out, SYN-ACK back). The client's kernel sends the third packet, the ACK,
right then, but `connect()` does not wait for it to reach the server; on the
server, `accept()` returns a connection only once that ACK has arrived. (On
this machine the round trip takes microseconds; most of the time `connect()`
printed is the system call and Python itself.)

Each side numbers its bytes from its own **initial sequence number** (ISN).
Wireshark, and this kit, show *relative* numbers: the ISN is shown as 0. The
SYN carries no data byte, but it **takes one sequence number**: the first
data byte is number 1, which is why the SYN-ACK acknowledges 1.

Then the chat server *speaks first*: a data segment (flags `AP`: ACK, and
**PSH**, which Linux sets on the last segment of each `send()`; a receiver
hands in-order data to the application whether PSH is set or not) carrying
its `--- hello:` line, which the client's kernel acknowledges (`A`). Your
program did none of the handshake: `listen()` told the server's kernel to
answer SYNs, `connect()` told the client's kernel to send one.

These statements, checked on the packets just captured (the raw numbers on
the wire, not the relative ones):
"""),
("code", r"""
t = nb.measured(cap, "connect", {"began": began, "returned": returned})
packets = cap.next_step()
syn, syn_ack = packets[0].segment, packets[1].segment
nb.check(nb.wire_claims.handshake(packets),
         nb.Claim("connect() returned after the SYN-ACK arrived, not before",
                  t["began"] - 1e-6 <= syn.time and syn_ack.time <= t["returned"],
                  f"the SYN left {(syn.time - t['began']) * 1e3:.3f} ms after connect() was called, the "
                  f"SYN-ACK came back {(syn_ack.time - syn.time) * 1e3:.3f} ms later (one round trip), "
                  f"connect() had returned by {(t['returned'] - t['began']) * 1e3:.3f} ms"),
         source=cap)
"""),
("md", r"""
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
The raw numbers are large, and the two sides' are unrelated. The
acknowledgement number is always *the next byte number the sender expects to
receive*: the SYN-ACK's raw ack is the client's ISN + 1.

## 3. Where the ISN comes from

An ISN is not simply random. RFC 9293 (section 3.4.1, the current TCP
standard) and RFC 6528 say: ISN = a **clock** + a **keyed hash** of the
4-tuple (both addresses, both ports) and a secret the kernel chose at boot.

* The **clock** makes a new connection on the *same* 4-tuple start above the
  numbers the previous one used, so a late duplicate segment of the old
  connection does not fit the new one.
* The **keyed hash** gives every other 4-tuple its own unrelated offset, so
  an attacker who is not on the path cannot guess the numbers of someone
  else's connection (and inject data or resets into it) from the ISNs of
  their own connections.

Linux's clock ticks every 64 ns (`secure_tcp_seq()` in the kernel's
net/core/secure_seq.c).

**Predict:** we connect twice from the *same* client port to the same server
port, a quarter of a second apart (aborting each connection with an RST so
that the 4-tuple is free again at once, see lesson 5), then once from another
port. How far apart will the ISNs be?
"""),
("code", r"""
isn_listener = lesson.listener()
cap_isn = lesson.capture(isn_listener.getsockname()[1], "01-isn")
ports = nb.same_four_tuple(isn_listener, times=2, pause=0.25)
offers = [a.segment for a in cap_isn.next_step() if a.flags == "SA"]
nb.show(nb.table([{"client port": s.dport, "server ISN (SYN-ACK)": s.seq,
                   "time (ms)": f"{(s.time - offers[0].time) * 1e3:.3f}",
                   "ISN - first ISN": (s.seq - offers[0].seq) % 2**32} for s in offers],
                 "three connections, two on the same 4-tuple"))
"""),
("code", r"""
nb.check(nb.wire_claims.isn_clock(cap_isn.next_step()), source=cap_isn)
"""),
("md", r"""
On the same 4-tuple the ISN moved forward by exactly the time elapsed
divided by 64 ns; from another port it lands somewhere else entirely. (A
server's ISN is chosen by the same rule; here we read the server's, because
its kernel chooses it in the very moment it sends the SYN-ACK, so the capture
time is the ISN's time.)

## 4. The first bytes: sequence and acknowledgement numbers

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
"""),
("code", r"""
packets = cap.next_step()
nb.check(nb.wire_claims.first_data_byte(packets, role="client"),
         nb.wire_claims.first_data_byte(packets, role="server"),
         nb.wire_claims.acknowledged(packets, role="client", nth=0),
         source=cap)
"""),
("md", r"""
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

## 5. When nothing listens: RST

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
("code", r"""
nb.check(nb.wire_claims.refused(cap_refused.next_step()), source=cap_refused)
"""),
("md", r"""
The kernel answers the SYN with an **RST** (reset, here with ACK): "no
connection here". `connect()` fails at once with *connection refused*. (A
firewall that silently *drops* the SYN gives a different symptom: the client
resends the SYN a few times and `connect()` ends with a timeout.)

## 6. Closing, and the whole connection as a ladder

alice leaves with `/quit`. The server answers `bye` and closes; alice reads
until `recv()` returns `b''` and closes too. Lesson 5 is about closing; for
now notice the two **FIN** segments, one per direction. A FIN, like a SYN,
carries no data byte but takes one sequence number, so its ACK is one higher.

**Predict:** the server closed first. Which of the two ends keeps a socket
for this connection after both have closed, and in which state?
"""),
("code", r"""
alice.quit()
cap.show_new("/quit and the close");
after = nb.wait_for_state(port, "TIME_WAIT")  # the client's FIN may still be on its way: wait for it (<= 2 s)
nb.show_sockets(port, "the kernel's sockets with our port after the close");
"""),
("code", r"""
server_end = [r for r in after if r["local"].endswith(f":{port}") and r["state"] == "TIME_WAIT"]
nb.check(nb.wire_claims.fins_take_one(cap.next_step()),
         nb.Claim("the side that closed first (the server) keeps the connection in TIME_WAIT",
                  bool(server_end), f"{server_end[0]['local']} -> {server_end[0]['remote']} in TIME_WAIT"
                  if server_end else "no TIME_WAIT socket on the server's port"),
         source=cap)
"""),
("md", r"""
The server's end of the connection stays in **TIME_WAIT** for 60 seconds on
Linux: the side that closes first keeps the 4-tuple reserved a while, in
case its last ACK was lost or old segments of this connection are still on
their way. Lesson 5 comes back to it (and to why servers set SO_REUSEADDR).

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
  `connect()` returns when the SYN-ACK arrives, about one round trip.
* The client's port is an **ephemeral port** chosen by the client's kernel.
* Every byte has a **sequence number**; the **ACK number** is the next byte
  expected. SYN and FIN carry no data byte but each takes one sequence number.
* The ISN is a clock plus a keyed hash of the 4-tuple (RFC 9293, RFC 6528):
  the clock protects a new connection on the same 4-tuple from old
  segments, the hash protects connections from off-path guessing.
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

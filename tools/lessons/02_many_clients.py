"""Lesson 2: many clients at once -- ephemeral ports and the 4-tuple."""

CELLS = [
("md", r"""
# Lesson 2 — Many clients on one port: ephemeral ports and the 4-tuple

*About 25 minutes.*

A chat server has **one** port, yet hundreds of clients talk to it at the same
time, each over its own connection. How does the server's kernel know which
connection an arriving segment belongs to?

In this lesson you will:

1. connect three clients and look at their **ephemeral ports**;
2. see that every connection on the server uses the **same local port**;
3. meet the **4-tuple** (client IP, client port, server IP, server port) that
   names a connection, and the protocol that completes it;
4. watch one chat message become three data segments on three connections.

Exercises: [`exercises/ex03_broadcast.py`](../exercises/ex03_broadcast.py) (the threaded
broadcast server, its list of clients, and what it does with one that stops
reading: lesson 4) and, if not done yet,
[`exercises/ex01_echo.py`](../exercises/ex01_echo.py). See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
import socket
from lab import notebook as nb

lesson = nb.Lesson("2: many clients, ephemeral ports and the 4-tuple")
server = lesson.server()
port = server.address[1]
cap = lesson.capture(port, "02-many-clients")
print(f"chat server on 127.0.0.1 port {port}; capturing that port")
"""),
("md", r"""
**Predict:** alice, bob and carol connect to the same server port, from the
same machine. Will their sockets have the same port number? Will the server
answer each of them from a different port?
"""),
("code", r"""
names = ["alice", "bob", "carol"]
peers = {name: lesson.peer(server, name) for name in names}
nb.show(nb.table([{"client": name, "client address (ephemeral port)": f"{p.local[0]}:{p.local[1]}",
                   "server address": f"{p.server[0]}:{p.server[1]}"} for name, p in peers.items()],
                 "three connections, seen from the clients"))
"""),
("md", r"""
Each client got a different **ephemeral port**, chosen by its kernel when it
called `connect()`. All three talk to the *same* server address and port.
The capture saw the same in the three SYNs:
"""),
("code", r"""
packets = cap.next_step()
nb.check(nb.wire_claims.ephemeral_ports(packets, cap.streams), source=cap)
"""),
("md", r"""

Now the server's side. Each time the server calls `accept()` it gets a *new
socket* for one connection, and the address of the client at the other end.
The server's lifecycle log records each one with its 4-tuple:
"""),
("code", r"""
nb.events(server.log, ("accepted",))
"""),
("md", r"""
**Predict:** how many sockets does the kernel now have with the server's port
as their *local* port, and how does it tell them apart?
"""),
("code", r"""
nb.show_sockets(port);
"""),
("md", r"""
The listening socket plus one socket per connection, **all with the server's
port as their local port**. A server does not move clients to other ports. The kernel tells
the connections apart by the whole **4-tuple**:

| | client IP | client port | server IP | server port |
|---|---|---|---|---|
| alice | 127.0.0.1 | her ephemeral port | 127.0.0.1 | the server's |
| bob | 127.0.0.1 | his ephemeral port | 127.0.0.1 | the server's |

When a segment arrives, the kernel looks up the socket whose 4-tuple matches
the segment's addresses and ports. A SYN that matches no connection goes to
the listening socket: that is how a new connection starts. Two connections can
share three of the four numbers, never all four. (The rows where the
*remote* port is the server's port are the clients' own sockets: both ends
are on this machine.)

Strictly, the key has a fifth part: the **protocol**. TCP and UDP have
separate port spaces, so TCP port 5050 and UDP port 5050 are two different
things. The kit relies on it: `chatlab server`, with or without `--udp`,
both use port 5050 by default, at the same time.

**Predict:** can a UDP socket bind the port our TCP chat server listens on?
"""),
("code", r"""
udp = lesson.close_later(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "UDP socket")
try:
    udp.bind(("127.0.0.1", port))
    bound = f"bound UDP {udp.getsockname()[0]}:{udp.getsockname()[1]} while TCP {port} listens"
except OSError as error:
    bound = None
    print(f"bind() failed: {error}")
nb.check(nb.Claim("a TCP and a UDP socket can use the same port number: the protocol is part of the key",
                  bound is not None, bound or "the UDP bind failed"))
"""),
("md", r"""
It can: to the kernel, "UDP port N" and "TCP port N" never collide.

The same thing, on a bare socket (no chat server), in four lines:
"""),
("code", r"""
listener = lesson.listener()
client = lesson.close_later(socket.create_connection(listener.getsockname(), timeout=5))
conn, client_address = listener.accept()
lesson.close_later(conn)
print("listening socket:      ", listener.getsockname())
print("accepted socket, local:", conn.getsockname(), " peer:", conn.getpeername())
print("client socket, local:  ", client.getsockname(), " peer:", client.getpeername())
"""),
("md", r"""
`accept()` returned a new socket whose local address is the listening
socket's, and whose peer is the client: the 4-tuple.

**Predict:** the kernel picks ephemeral ports from a range. How large is it on
this machine, and so how many connections can one client machine open *to one
server address and port* at the same time?
"""),
("code", r"""
low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
print(f"ephemeral ports: {low} to {high}, that is {high - low + 1} ports")
"""),
("md", r"""
Towards one server IP and port, every connection from one client IP needs its
own client port (otherwise two 4-tuples would be equal): about that many
connections at most. Towards *another* server address the same ports can be
used again, because the 4-tuples differ.

**Predict:** what happens if a program tries to `bind()` its socket to the
port alice is using right now, on the same address?
"""),
("code", r"""
intruder = socket.socket()
try:
    intruder.bind(peers["alice"].local)
    print("bind succeeded")
except OSError as error:
    print(f"bind({peers['alice'].local}) failed: {error}")
finally:
    intruder.close()
"""),
("md", r"""
Address already in use: the port is taken by alice's socket (a *TCP* socket;
a UDP socket could bind it, as above). Clients almost never call `bind()`:
`connect()` picks a free ephemeral port for them.

## One message, three connections

**Predict:** alice sends one chat line. The server relays it to the *other*
members. How many data segments carry it on the wire, on which connections
(the capture numbers them `tcp0`, `tcp1`, `tcp2` in order of their SYN)?
"""),
("code", r"""
cap.new()   # skip the packets of the three joins
peers["alice"].send("hi everyone!")
for name in ("bob", "carol"):
    print(name, "received:", peers[name].expect("hi everyone!")[-1])
message = cap.show_new("one chat message")
"""),
("code", r"""
carriers = [(a.stream, a.role) for a in message if b"hi everyone!" in a.segment.payload]
nb.check(nb.Claim("alice's line crossed once to the server, then once on each other member's connection",
                  sorted(carriers) == [(0, "client"), (1, "server"), (2, "server")],
                  ", ".join(f"tcp{stream} from the {role}" for stream, role in carriers) or "not captured"),
         source=cap)
"""),
("md", r"""
One data segment from alice to the server on her connection, then one from
the server to bob and one to carol, each on *their* connection (different
client port, same server port), each acknowledged. The server is the only
one that knows all the members: the clients never talk to each other
directly. In exercise 3 you keep that list of clients.

A summary of every connection captured in this lesson:
"""),
("code", r"""
for peer in peers.values():
    peer.quit()
cap.summary()
"""),
("md", r"""
## Summary

* A client's port is an **ephemeral port** chosen by its kernel at `connect()`.
* `accept()` returns a **new socket** per connection; all of them have the
  server's port as their local port.
* A connection is named by its **4-tuple** (plus the protocol: TCP and UDP
  ports are separate); the kernel uses it to deliver each segment to the
  right socket.

## Exercises

* [`exercises/ex03_broadcast.py`](../exercises/ex03_broadcast.py): the accept loop, a thread per
  client, the shared list of clients, and a bounded send that drops a member
  who stops reading (lesson 4 shows why).
  Test: `python -m pytest tests/graded/test_ex03_broadcast.py`.
* In class: run `chatlab server` and let everyone connect with
  `chatlab client SERVER-IP --name NAME`; the server's log shows each
  student's 4-tuple as they join (see docs/INSTRUCTOR.md).
"""),
("code", r"""
lesson.cleanup();
"""),
]

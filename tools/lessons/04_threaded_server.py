"""Lesson 4: the threaded broadcast server, and what one slow client does."""

CELLS = [
("md", r"""
# Lesson 4 — The threaded broadcast server, and the client that stops reading

*About 35 minutes.*

`accept()` and `recv()` **block**: they wait until something arrives. A server
with one thread could wait for a new client *or* for one client's next line,
not both. The classic answer is **a thread per client**, plus a shared **list
of clients** that every thread uses to broadcast.

In this lesson you will:

1. count the server's threads as clients come and go;
2. see why the list of clients needs a **lock**;
3. watch one client that **stops reading** freeze a tutorial-style server, and
   see how the lab's server bounds the damage and drops that client instead.

Exercises: [`exercises/ex03_broadcast.py`](../exercises/ex03_broadcast.py) (the threaded server)
and [`exercises/ex04_client.py`](../exercises/ex04_client.py) (the two-thread client).
See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
from lab import notebook as nb

lesson = nb.Lesson("4: the threaded broadcast server")
server = lesson.server()
print("server threads:", nb.server_threads())
"""),
("md", r"""
With no client, the lab's server (`lab/tcp/server.py`) runs two threads: **accept**,
blocked in `accept()`, and the **backlog-writer**, which we meet at the end.

**Predict:** three clients join. How many server threads now?
"""),
("code", r"""
peers = [lesson.peer(server, name) for name in ("alice", "bob", "carol")]
print("server threads:", nb.server_threads())
print("members:", server.room.names())
"""),
("md", r"""
One thread per client (`client-1`, `client-2`, `client-3`), each blocked in
`recv()` on its own socket, waiting for that client's next line. When alice
sends a line, *her* thread wakes up and sends it to every other member.

All these threads read and change the same list of members (a join, a leave,
a broadcast that loops over everyone). Threads run at the same time, so the
server takes a **lock** (`threading.Lock`) around every use of that list:
without it, one thread could loop over the list while another removes an
entry from it. The rule in exercise 3: hold the lock to *copy* the list,
**never while sending**. Part 3 shows why.

**Predict:** alice leaves with `/quit`. Which thread ends?
"""),
("code", r"""
peers[0].quit()
print("server threads:", nb.server_threads())
print("members:", server.room.names())
nb.events(server.log, ("accepted", "named", "closed"))
"""),
("md", r"""
## The client that stops reading

Real clients misbehave: a laptop goes to sleep, someone presses Ctrl-S in a
terminal, a curious student connects with `nc` and never reads. What does the
server do with the messages for a client that does not read them?

Bytes for a client first go to the server's **send buffer** for that socket,
then across the network into the client's **receive buffer**, and wait there
until the client's program calls `recv()`. When the client's receive buffer is
full, its kernel advertises a **zero window** ("no room, stop sending"). The
server's send buffer then fills up too, and a **blocking** `send()`/`sendall()`
to that client *waits* until there is room again: possibly forever, because
TCP does not give up on a peer that still answers (it keeps acknowledging,
with a zero window).

The experiment: three members. **sleepy** joins and then never reads.
**bob** reads normally. **alice** sends 200 lines of 400 bytes. We watch for 3
seconds how many reach bob.

### The tutorial server

`lab/tcp/naive_server.py` is the design found in most socket tutorials, kept as
an exhibit: one thread per client, **one lock**, and to broadcast, the
sender's thread takes the lock and calls `sendall()` to every member in turn,
*while holding the lock*.

**Predict:** how many of alice's 200 lines will bob receive? Note that sleepy
is the only one who does not read.
"""),
("code", r"""
naive_port = nb.free_port()
cap = lesson.capture(naive_port, "04-naive-slow-reader")
naive = nb.slow_reader("naive", port=naive_port)
cap.stop()
nb.show_slow_reader(naive)
"""),
("md", r"""
Bob, who reads perfectly well, stopped receiving after a few dozen lines: the
whole room froze. Why, step by step:

1. sleepy's receive buffer filled, then the server's send buffer for sleepy;
2. alice's thread, inside `sendall()` to sleepy, **blocked**, *holding the lock*;
3. every other thread that needs the lock (to broadcast, to handle a join or
   a leave) now waits for it: nobody receives anything any more.

The capture shows it from the network's side, on sleepy's connection (the
table keeps only the packets Wireshark would flag):

* **window full**: the server sent as much as sleepy's kernel had room for;
* **zero window**: sleepy's kernel advertises a window of 0, "no room at all";
* then the server's kernel **probes** the closed window at growing intervals
  (exponential backoff). Linux sends these probes as empty segments one
  sequence number back, which Wireshark labels *Keep-Alive*; sleepy's kernel
  answers each one, still with a zero window. This can go on for ever: the
  stall ends only when sleepy reads, or the connection is closed (here, by us
  after 3 s);
* **retransmissions**, if any: with a receive buffer this small,
  sleepy's kernel had to discard segments it had no memory for, and the
  server sent them again.
"""),
("code", r"""
cap.show_flagged("the stall on the wire", limit=15);
"""),
("md", r"""
### The lab's server

`lab/tcp/server.py` never blocks on a member's socket. Each member has an
**outbox** (`lab/tcp/delivery.py`): the broadcasting thread tries a
*non-blocking* send; what the kernel does not take waits in that member's
bounded **backlog**, which the single **backlog-writer** thread sends when the
socket has room again. A member whose backlog passes the limit (64 KiB by
default, `--send-queue`; here 16 KiB so the experiment is quick) is
**dropped**: `left (dropped: send queue exceeded)`.

**Predict:** same experiment against the lab's server. How many lines does bob
get, and what happens to sleepy? (The server's flood limit of 10 lines/s is
lifted for alice here, so that the experiment takes one second.)
"""),
("code", r"""
reference = nb.slow_reader("reference")
nb.show_slow_reader(naive, reference)
nb.events(reference.events, ("closed",))
"""),
("md", r"""
Bob got all 200 lines, sleepy was dropped once its backlog was full, and
alice never noticed. Each of the three `closed` lines above says how the
connection ended: sleepy *dropped*, alice and bob at the server's *shutdown*
when the experiment ended.

The cost of a slow client is now **bounded**: at most its kernel buffers plus
the backlog limit, in memory, and no waiting for anybody else.

To show the same thing to a class with many clients (and numbers): in two
terminals,

```
chatlab server --naive --port 5051
chatlab load 127.0.0.1 --port 5051 --clients 200 --senders 20 --stalled 1
```

then the same `chatlab load` against `chatlab server --port 5050`.

## Summary

* A thread per client lets the server wait on every client at once; the
  shared list of clients needs a lock.
* **Never hold a lock across a blocking `send()`**: one client that stops
  reading then freezes every thread that needs the lock.
* A robust server sends without blocking, bounds what it keeps for each
  client, and drops the one that cannot keep up.

## Exercises

* [`exercises/ex03_broadcast.py`](../exercises/ex03_broadcast.py): the accept loop, one thread per
  client, the list of clients under a lock (copy it, then send).
* [`exercises/ex04_client.py`](../exercises/ex04_client.py): the client also needs two threads:
  one blocked in `recv()`, one reading what you type.
* Further reading: [docs/PERFORMANCE.md](../docs/PERFORMANCE.md) (the delivery designs, measured).
"""),
("code", r"""
lesson.cleanup();
"""),
]

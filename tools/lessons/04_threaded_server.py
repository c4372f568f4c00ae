"""Lesson 4: the broadcast server -- threads or one event loop -- and what one slow client does."""

CELLS = [
("md", r"""
# Lesson 4 — The broadcast server, and the client that stops reading

*About 40 minutes.*

`accept()` and `recv()` **block**: they wait until something arrives. With
blocking calls, a thread waits in one of them at a time: for a new client
*or* for one client's next line. Two classic ways to serve many clients at
once:

* **a thread per client**, each blocked in its own `recv()`, plus a shared
  **list of clients** that every thread uses to broadcast. The chat's
  reference server (`lab/tcp/server.py`) and exercise 3 are built this way:
  the code reads top to bottom like the protocol (read a line, act on it,
  repeat), with the blocking calls of lessons 1-3.
* **one thread and an event loop**: ask the kernel *which* sockets are ready
  (`select()`, `poll()`, `epoll()`; Python's `selectors` module) and only
  ever call what cannot block. Part 4 runs the same chat built that way.

In this lesson you will:

1. count the server's threads as clients come and go;
2. see why the list of clients needs a **lock**, and what the lock does not protect;
3. watch one client that **stops reading** freeze a tutorial-style server, and
   see how the lab's server bounds the damage and drops that client instead;
4. run the same broadcast server with `selectors` (one thread, non-blocking
   sockets, a bounded buffer per member) side by side with the threaded one.

Exercises: [`exercises/ex03_broadcast.py`](../exercises/ex03_broadcast.py) (the threaded server,
with a bounded send) and [`exercises/ex04_client.py`](../exercises/ex04_client.py) (the
two-thread client). See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("md", r"""
## 1. A thread per client
"""),
("code", r"""
from lab import notebook as nb

lesson = nb.Lesson("4: the broadcast server")
server = lesson.server()
print("server threads:", nb.server_threads(server))
"""),
("md", r"""
With no client, the lab's server runs three threads: **accept**, blocked in
`accept()`, the **backlog-writer**, which we meet in part 3, and
**name-deadlines**, which closes the connections that never choose a name.

**Predict:** three clients join. How many server threads now?
"""),
("code", r"""
peers = [lesson.peer(server, name) for name in ("alice", "bob", "carol")]
print("server threads:", nb.server_threads(server))
print("members:", server.room.names())
"""),
("md", r"""
One thread per client (`client-1`, `client-2`, `client-3`), each blocked in
`recv()` on its own socket, waiting for that client's next line. When alice
sends a line, *her* thread wakes up and hands it to every other member.

## 2. The list of clients and its lock

All these threads read and change the same list of members (a join, a leave,
a broadcast that loops over everyone). Threads run at the same time, so the
server takes a **lock** (`threading.Lock`) around every use of that list:
without it, one thread could loop over the list while another removes an
entry from it. The lock keeps the *list* consistent. It does not protect the
*room* from a member that stops reading: part 3 shows what does.

**Predict:** alice leaves with `/quit`. Which thread ends?
"""),
("code", r"""
peers[0].quit()
print("server threads:", nb.server_threads(server))
print("members:", server.room.names())
nb.events(server.log, ("accepted", "named", "closed"))
"""),
("md", r"""
alice's thread, `client-1`: her connection ended, so did the thread that read it.

## 3. The client that stops reading

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
**bob** reads normally. **alice** sends 200 lines of 400 bytes; we watch for 3
seconds how many reach bob. Then bob writes one line of his own, and we
watch whether it reaches alice.

### The tutorial server

`lab/tcp/naive_server.py` is the design found in most socket tutorials, kept as
an exhibit: one thread per client, **one lock**, and to broadcast, the
sender's thread takes the lock and calls `sendall()` to every member in turn,
*while holding the lock*.

**Predict:** how many of alice's 200 lines will bob receive? Will bob's own
line reach alice? Note that sleepy is the only one who does not read.
"""),
("code", r"""
naive_port = nb.free_port()
cap = lesson.capture(naive_port, "04-naive-slow-reader")
naive = nb.slow_reader("naive", port=naive_port)
cap.stop()
nb.show_slow_reader(naive)
nb.show_threads(naive)
"""),
("md", r"""
Bob, who reads perfectly well, stopped receiving after a few dozen lines, and
his own line never reached alice: the whole room froze. The second table
was read from the server's threads themselves (Python's
`sys._current_frames()`) while the room was frozen:

1. sleepy's receive buffer filled, then the server's send buffer for sleepy;
2. the server's thread for alice, inside `sendall()` to sleepy, **blocked**,
   *holding the lock*;
3. bob's thread, with bob's line to broadcast, waits for the lock; so would
   any thread handling a join or a leave: nobody receives anything any more.

(alice's *own* program was never blocked: her 80 kB still fitted in the
kernel buffers between her and the server. It is the server's thread
serving her that is stuck.)

The capture shows it from the network's side, on sleepy's connection (the
table keeps only the packets Wireshark would flag):

* **window full**: the server sent as much as sleepy's kernel had room for;
* **zero window**: sleepy's kernel advertises a window of 0, "no room at all";
* then the server's kernel **probes** the closed window at growing intervals
  (exponential backoff). Linux sends these probes as empty segments one
  sequence number back, which Wireshark labels *Keep-Alive*; sleepy's kernel
  answers each one, still with a zero window. This can go on for ever: the
  stall ends only when sleepy reads, or the connection is closed (here, by us
  after the experiment);
* **retransmissions**, if any: with a receive buffer this small,
  sleepy's kernel had to discard segments it had no memory for, and the
  server sent them again.
"""),
("code", r"""
cap.show_flagged("the stall on the wire", limit=15)
packets = cap.next_step()
nb.check(nb.wire_claims.zero_window(packets, stream=0, role="client"),
         nb.wire_claims.within_window(packets, stream=0, sender="server"),
         nb.Claim("the room froze: bob stopped receiving and his own line never reached alice", naive.frozen,
                  f"bob received {naive.received_by_bob} of {naive.sent}; bob's line reached alice: "
                  f"{'yes' if naive.bob_heard else 'no'}"),
         nb.Claim("the server's thread for alice was blocked in sendall() to sleepy, holding the lock",
                  ("alice's thread", "blocked in sendall() to sleepy, inside `with self._lock`") in naive.threads
                  and naive.lock_held, f"lock held: {naive.lock_held}; " + "; ".join(f"{w}: {s}" for w, s in
                                                                                     naive.threads)),
         source=cap)
"""),
("md", r"""
The lock made it worse (everybody waits for alice's thread), but it is not
the root of the problem. A server that copies the list under the lock and
then sends *without* holding it still calls a blocking `sendall()` to
sleepy: alice's thread hangs there all the same, then bob's thread the
first time bob speaks, then every other sender's. The room freezes one
thread at a time instead of all at once.

What protects the room is a **bounded send**: never wait without limit for
one member, and **drop** the member that cannot keep up. Three ways:

* a send timeout (`socket.settimeout()` before `sendall()`), then drop;
* a bounded queue per member, emptied by a writer thread, then drop when full;
* non-blocking sends, keeping what the kernel does not take in a bounded
  buffer per member, then drop when full (the lab's server; also part 4).

Exercise 3 asks for one of them, and its test has a member that never reads.

### The lab's server

`lab/tcp/server.py` never blocks on a member's socket. Each member has an
**outbox** (`lab/tcp/delivery.py`): the broadcasting thread tries a
*non-blocking* send; what the kernel does not take waits in that member's
bounded **backlog**, which the single **backlog-writer** thread sends when the
socket has room again. A member whose backlog passes the limit (64 KiB by
default, `--send-queue`; here 16 KiB so the experiment is quick) is
**dropped**: `left (dropped: send queue exceeded)`.

**Predict:** same experiment against the lab's server. How many lines does bob
get, does his line reach alice, and what happens to sleepy? (The server's
flood limit of 10 lines/s is lifted for alice here, so that the experiment
takes one second.)
"""),
("code", r"""
reference = nb.slow_reader("reference")
nb.show_slow_reader(naive, reference)
nb.events(reference.events, ("closed",))
"""),
("md", r"""
Bob got all 200 lines and alice got bob's line; sleepy was dropped once its
backlog was full. Each `closed` line above says how the connection ended:
sleepy *dropped*, alice and bob at the server's *shutdown* when the
experiment ended.

The cost of a slow client is now **bounded**: at most its kernel buffers plus
the backlog limit, in memory, and no waiting for anybody else.

To show the same thing to a class with many clients (and numbers): in two
terminals,

```
chatlab server --naive --port 5051
chatlab load 127.0.0.1 --port 5051 --clients 200 --senders 20 --stalled 1
```

then the same `chatlab load` against `chatlab server --port 5050`.

## 4. The same server with one thread: `selectors`

`lab/tcp/selector_server.py` serves the same room (`lab.chat.room`, the same
wording, the same parser) with **one thread** and no lock at all. Its loop:

```python
while running:
    for key, events in selector.select(timeout=0.5):   # epoll_wait(): which sockets are ready?
        if key is the listening socket:  accept() every waiting connection, non-blocking
        elif readable:                   recv() what is there (it cannot block), cut lines, let the room decide
        elif writable:                   send() what that member's buffer holds, keep what the kernel refuses
```

A broadcast appends the line to each member's buffer and tries one
non-blocking `send()`; what the kernel does not take stays in the buffer, and
the loop asks to be told when that socket is writable again. A buffer past
its bound (16 KiB here) drops the member, as the reference server does.

**Predict:** same experiment against the one-thread server. How many threads
does it run while serving the three members (the `threads` column counts
the threads each server started)? What happens to bob and to sleepy?
"""),
("code", r"""
selectors_result = nb.slow_reader("selectors")
nb.show_slow_reader(naive, reference, selectors_result)
nb.events(selectors_result.events, ("closed",))
"""),
("code", r"""
nb.check([nb.Claim(f"with the {r.server} server the room carried on and sleepy was dropped",
                   not r.frozen and r.sleepy_dropped == "dropped: send queue exceeded",
                   f"bob received {r.received_by_bob} of {r.sent}; bob's line reached alice: "
                   f"{'yes' if r.bob_heard else 'no'}; sleepy {r.sleepy_dropped or 'still connected'}")
          for r in (reference, selectors_result)],
         nb.Claim("the selectors server served all three members with one thread", selectors_result.server_threads == 1,
                  f"{selectors_result.server_threads} thread(s) started, against {reference.server_threads} "
                  "for the threaded reference server"))
"""),
("md", r"""
Same result as the threaded reference server, with one thread (the
`selector-loop` thread; the listening socket and every member's socket
are watched by one `epoll` instance).

When is each design the right one?

| | a thread per client | one thread, `selectors` |
|---|---|---|
| the code | reads like the protocol: `recv()` a line, act, repeat | every step is an event; no step may block, ever |
| shared state | needs locks, and care about what is done while holding them | none: one thread touches everything |
| a slow client | needs a bounded send (timeout, queue or non-blocking) | non-blocking by construction; still needs the bound |
| many clients | each thread has a stack (8 MiB of address space on Linux) and a scheduler entry: fine for hundreds, heavy for tens of thousands | one socket each in `epoll`: tens of thousands are normal (nginx, Redis, Node.js, `asyncio`) |
| slow work per message (a database query, a big computation) | only that client's thread waits | everybody waits, unless the work goes to a thread pool |
| several cores | threads can use them (in Python, within the GIL's limits) | one loop uses one core; run one loop per core |

The chat does little work per message and serves a class of 30-300: both
designs fit; the seed chooses threads because they are the shorter step from
lessons 1-3. Python's `asyncio` is the event loop with a friendlier syntax:
`await reader.readline()` reads like the threaded code and runs like this one.

## Summary

* With blocking calls, one thread waits in one call at a time: a thread per
  client, or one thread asking `select`/`poll`/`epoll` which sockets are ready.
* The shared list of clients needs a lock; holding it across a blocking
  `send()` lets one client that stops reading freeze every thread.
* What protects the room is a **bounded send** (a timeout, a bounded queue,
  or non-blocking sends with a bounded buffer) and **dropping** the member
  that cannot keep up. Copying the list under the lock alone is not enough.

## Exercises

* [`exercises/ex03_broadcast.py`](../exercises/ex03_broadcast.py): the accept loop, one thread per
  client, the list of clients under a lock, and a bounded send that drops a
  member who stops reading (its test has one).
* [`exercises/ex04_client.py`](../exercises/ex04_client.py): the client also needs two threads:
  one blocked in `recv()`, one reading what you type (or one `selectors` loop
  over the socket and the keyboard).
* Further reading: [docs/PERFORMANCE.md](../docs/PERFORMANCE.md) (the delivery designs, measured).
"""),
("code", r"""
lesson.cleanup();
"""),
]

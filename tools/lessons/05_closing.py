"""Lesson 5: closing -- FIN vs RST on Ctrl-C, half-close, TIME_WAIT, SO_REUSEADDR."""

CELLS = [
("md", r"""
# Lesson 5 — Closing: FIN or RST, half-close, TIME_WAIT and SO_REUSEADDR

*About 35 minutes.*

A TCP connection can end in two ways, and the other side sees the difference:

* **FIN**, the orderly close: "I have nothing more to send", after all the
  data already sent. The peer's `recv()` returns `b''` once it has read
  everything before it. `shutdown(SHUT_WR)` always sends it. `close()` sends
  it only when nothing received is still unread, `SO_LINGER` is not set to
  0, and no other descriptor refers to the same socket (after `dup()` or
  `fork()` the FIN leaves when the last one is closed).
* **RST**, the abort: the connection is thrown away, data in flight included.
  The peer's `recv()` raises `ConnectionResetError`. The causes, all in this
  lesson or lesson 1: a socket closed with received data still unread;
  `SO_LINGER` set to 0 seconds; a segment arriving for a socket that no
  longer exists (writing to a peer that has closed); a SYN to a port where
  nothing listens.

In this lesson you will:

1. press "Ctrl-C" on a chat client twice, and get a FIN once and an RST once;
   then an RST on purpose with `SO_LINGER`;
2. **half-close** a connection with `shutdown(SHUT_WR)` and keep receiving;
   then write to a peer that has closed;
3. find the **TIME_WAIT** state, and why a restarted server needs **SO_REUSEADDR**.

Exercise: [`exercises/ex05_closing.py`](../exercises/ex05_closing.py) (telling FIN from RST,
half-close, a clean Ctrl-C). See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
import socket
import struct
from lab import notebook as nb

lesson = nb.Lesson("5: closing")
server = lesson.server()
port = server.address[1]
cap = lesson.capture(port, "05-closing")
alice = lesson.peer(server, "alice")
print(f"chat server on port {port}; alice is in the room and watches who leaves")
"""),
("md", r"""
## 1. Ctrl-C on a client that has read everything

`dora` is a small chat client running in **its own process**, with a receiver
thread that reads everything the server sends, like `chatlab client`. We send
it **SIGINT**, which is exactly what the terminal sends when you press
Ctrl-C. Python raises `KeyboardInterrupt`, the program ends, and the
**kernel** closes its socket (a program's sockets are closed when it exits;
a process killed outright, with SIGKILL, is no different: the kernel closes
its sockets exactly as `close()` would).

**Predict:** FIN or RST? What will alice see?
"""),
("code", r"""
dora = lesson.process_client(server, "dora", mode="reads")
alice.expect("dora joined")
cap.new()                                     # skip dora's handshake and join
print("dora's process exit status:", dora.ctrl_c(), "(negative: ended by that signal; 2 is SIGINT)")
print("alice sees:", alice.expect("dora left")[-1])
cap.show_new("Ctrl-C on dora");
"""),
("md", r"""
A **FIN** from dora's side (the kernel closed the socket in an orderly way,
because nothing was left unread), the server's `recv()` returned `b''`, so
the room says `closed ... FIN`; then the server closed its side too: its own
FIN and the last ACK.
"""),
("code", r"""
packets = cap.next_step()
nb.check(nb.wire_claims.ended_by(packets, stream=1, how="fin", who="client"),
         nb.wire_claims.fins_take_one(packets, stream=1), source=cap)
"""),
("md", r"""

## 2. Ctrl-C on a client with unread data

`eve` is the same client, but it stops reading once it has joined. alice
sends a message: it lands in eve's **receive buffer**, unread.

**Predict:** we press "Ctrl-C" on eve. FIN or RST now?
"""),
("code", r"""
eve = lesson.process_client(server, "eve", mode="stalled")
alice.expect("eve joined")
alice.send("eve, are you still there?")
print("unread in eve's receive buffer:", eve.wait_unread(), "bytes")  # waits until the line is there
cap.new()
print("eve's process exit status:", eve.ctrl_c())
print("alice sees:", alice.expect("eve left")[-1])
cap.show_new("Ctrl-C on eve, with unread data");
"""),
("md", r"""
An **RST**. When a socket is closed while received data is still unread, the
kernel cannot deliver that data any more, and it tells the peer so by
resetting the connection instead of closing it politely (RFC 1122,
4.2.2.13; RFC 9293 3.10.4). The server's `recv()` raised
`ConnectionResetError`: `reset ... RST`. No FIN follows an RST: the
connection is simply gone.
"""),
("code", r"""
nb.check(nb.wire_claims.ended_by(cap.next_step(), stream=2, how="rst", who="client"), source=cap)
"""),
("md", r"""

The server's lifecycle log tells the two endings apart the same way:
"""),
("code", r"""
nb.events(server.log, ("closed",))
"""),
("md", r"""
**Predict:** a third way to get an RST, on purpose: the option `SO_LINGER`
set to "on, 0 seconds" before `close()`. fred has read everything. FIN or
RST? What will alice see this time?
"""),
("code", r"""
fred = lesson.peer(server, "fred")
alice.expect("fred joined")
cap.new()
fred.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
fred.close()
print("alice sees:", alice.expect("fred left")[-1])
cap.show_new("close() with SO_LINGER 0");
"""),
("code", r"""
nb.check(nb.wire_claims.ended_by(cap.next_step(), stream=3, how="rst", who="client"), source=cap)
"""),
("md", r"""
An **RST**, although nothing was unread. `SO_LINGER` says what `close()` does
with data not yet sent: linger on (1) with a timeout of 0 seconds means
"discard it and abort": the kernel sends an RST at once, and the socket is
gone without any TIME_WAIT (section 4). Programs use it to drop a
misbehaving peer at once; used routinely, it turns every close into an
error on the other side.
"""),
("md", r"""
## 3. Half-close: shutdown(SHUT_WR)

`close()` ends both directions at once. `shutdown(SHUT_WR)` ends only *your*
sending direction: it sends a FIN ("no more data from me"), and you can still
**receive**. That is how a client says "that was my whole request" and then
reads the whole answer.

We use a bare connection again: the client sends two lines and half-closes;
the server side reads until `b''`, answers, and closes.

**Predict:** after the client's `shutdown(SHUT_WR)`, can it still receive the
server's answer? What are the two sockets' TCP states in between?
"""),
("code", r"""
listener = lesson.listener()
hc_port = listener.getsockname()[1]
cap_half = lesson.capture(hc_port, "05-half-close")
client, server_side, _ = lesson.tcp_pair(listener=listener)

client.sendall(b"one\ntwo\n")
client.shutdown(socket.SHUT_WR)               # FIN: no more data from the client
received = nb.recv_all(server_side, timeout=2)  # recv() until it returns b''
print("the server side read:", received, "and then b''")
nb.wait_for_tcp_state(client, "FIN_WAIT2")     # until the ACK of the FIN arrived (it may be delayed; <= 2 s)
print("states now: client", nb.tcp_state(client), "| server side", nb.tcp_state(server_side))

server_side.sendall(b"got %d bytes, bye\n" % sum(map(len, received)))
server_side.close()                           # the server side's FIN
print("the client still receives:", nb.recv_all(client, timeout=2), "and then b''")
"""),
("code", r"""
nb.check(nb.wire_claims.data_after_fin(cap_half.next_step(), closer="client"), source=cap_half)
"""),
("md", r"""
After the client's FIN, its socket is in **FIN_WAIT2** (its FIN was
acknowledged; it waits for the other side's FIN) and the server side in
**CLOSE_WAIT** (the peer has finished; *this* program must still close). The
server side could still send, and the client received it. Then the server
side's FIN ended the connection; the client's side moves to **TIME_WAIT**
(section 4). Every packet of it:
"""),
("code", r"""
cap_half.ladder(0)
"""),
("md", r"""
**Predict:** now the opposite mistake. The server side of a new connection
closes (a FIN); the client has read `b''` but writes one more line anyway.
Does `send()` fail? What does the server's kernel answer?
"""),
("code", r"""
client2, server_side2, _ = lesson.tcp_pair(listener=listener)
server_side2.close()                          # the server is gone: FIN, and no socket to read any more data
client2.settimeout(2)
print("the client's recv() returns", client2.recv(100), "(the server's FIN)")
cap_half.new()
client2.send(b"are you still there?\n")        # accepted: it only goes into the send buffer
print("first send() after the FIN: no error")
gone = nb.wait_for_tcp_state(client2, "CLOSE")  # until the answer to that line has arrived (<= 2 s)
try:
    client2.send(b"hello?\n")
    print("second send(): no error")
except OSError as error:
    print(f"second send() raised {type(error).__name__}: {error}")
cap_half.show_new("writing to a peer that has closed");
"""),
("code", r"""
late = cap_half.next_step()
rst = [a for a in late if a.stream == 1 and a.role == "server" and "R" in a.flags]
nb.check(nb.Claim("data for a socket that no longer exists is answered by an RST", bool(rst),
                  f"the client's line, then an RST from the server's kernel (packet {rst[0].segment.number})"
                  if rst else "no RST from the server"), source=cap_half)
"""),
("md", r"""
The first `send()` succeeded: it only copies the bytes into the send buffer,
and the client's kernel does not know yet that nobody will read them. The
server's socket is gone (`close()` ended both directions), so its kernel
answers the segment with an **RST**; from then on the client's socket is
dead and the next `send()` fails (`BrokenPipeError` or `ConnectionResetError`).
This is the classic "broken pipe" of a program that writes to a peer that
went away: the error comes one write late.
"""),
("md", r"""
## 4. TIME_WAIT

The side that closes **first** (the *active closer*) ends in **TIME_WAIT**
and stays there for a while (60 seconds on Linux) before the connection is
forgotten. Two reasons: if its last ACK is lost, the peer resends its FIN and
must still get an answer; and late duplicate segments of this connection must
die out before the same 4-tuple can be used again.

**Predict:** in part 3 the client closed first. In parts 1 and 2? Which sockets
of the chat server's port are in TIME_WAIT now?
"""),
("code", r"""
nb.show_sockets(hc_port, "the half-close connection's sockets");
nb.show_sockets(port, "the chat server's port");
"""),
("md", r"""
The half-closed connection: the client's end is in TIME_WAIT (the other
connection on that port ended with an RST: none). On the chat server's
port, TIME_WAIT shows on the side that sent the first FIN: dora's end (her
kernel closed first). The RST endings leave no TIME_WAIT at all. (When a
client leaves with `/quit`, the *server* closes first, so the TIME_WAIT is on
the server's side: lesson 1, section 6, showed it.)

## 5. SO_REUSEADDR: restarting a server at once

TIME_WAIT matters to servers. A server that is stopped often closes its
connections first, so they sit in TIME_WAIT *on the server's port*. Restart
it, and `bind()` to that port may fail with "Address already in use" for a
minute.

We recreate that: a listening socket (with SO_REUSEADDR, as servers set it),
one connection that the *server* side closes first, then the listening socket
closed, like a server that just stopped.

**Predict:** a new server binds that port at once, once without and once with
`SO_REUSEADDR`. Which works?
"""),
("code", r"""
old_listener = lesson.listener(reuseaddr=True)
old_port = old_listener.getsockname()[1]
c, s, _ = lesson.tcp_pair(listener=old_listener)
s.close()                              # the server closes first: TIME_WAIT will be on its side
nb.recv_all(c, timeout=1)              # the client reads b'' (the FIN) ...
c.close()                              # ... and closes too
old_listener.close()                   # the "server" has stopped
nb.wait_for_state(old_port, "TIME_WAIT")  # until the client's FIN has arrived (<= 2 s)
nb.show_sockets(old_port, "the old server's port after it stopped")
without, with_ = nb.try_bind(old_port, reuseaddr=False), nb.try_bind(old_port, reuseaddr=True)
print(without)
print(with_)
nb.check(nb.Claim("while the port is in TIME_WAIT, bind() fails without SO_REUSEADDR and succeeds with it",
                  "failed" in without and "succeeded" in with_, f"{without}; {with_}"))
"""),
("md", r"""
Without the option, `bind()` fails while a connection on that port is in
TIME_WAIT; with it, the bind succeeds. (On Linux both sockets need the
option: the new one, and the old one whose connection is in TIME_WAIT. So a
server sets `SO_REUSEADDR` *every time*, before `bind()`.
`socket.create_server()`, which `lab/tcp/server.py` uses, does it for you; that
is why `chatlab server` restarts on the same port at once.)

## Summary

* **FIN**: orderly, after all data; the peer's `recv()` returns `b''`.
  **RST**: abort; the peer's `recv()` raises `ConnectionResetError`.
* `close()` sends a FIN only if nothing received is unread, `SO_LINGER` is
  not 0 and it is the last descriptor of the socket. Closing with **unread
  received data** sends an RST, so does `SO_LINGER` (on, 0), so does the
  peer's kernel when data arrives for a socket that is gone. Ctrl-C (or
  SIGKILL) closes a process's sockets: FIN or RST depends on what was left
  unread.
* `shutdown(SHUT_WR)` is a **half-close**: send a FIN, keep receiving.
* The active closer ends in **TIME_WAIT**; servers set **SO_REUSEADDR** to
  bind again at once.

## Exercise

* [`exercises/ex05_closing.py`](../exercises/ex05_closing.py): classify how a connection ended,
  half-close, and a server that stops cleanly on Ctrl-C (exit status 0, every
  client told, FIN not RST, and a restart can bind the same port at once).
  Test: `python -m pytest tests/graded/test_ex05_closing.py`.
"""),
("code", r"""
lesson.cleanup();
"""),
]

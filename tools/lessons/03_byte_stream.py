"""Lesson 3: TCP is a byte stream -- messages merged and split, and framing."""

CELLS = [
("md", r"""
# Lesson 3 — TCP is a byte stream: messages merged, split, and framing

*About 30 minutes.*

TCP delivers **bytes**, in order, none lost. It does **not** deliver
*messages*: the boundaries between your `send()` calls are not kept. One
`recv()` may return several messages glued together, or part of one.

In this lesson you will:

1. send three lines with three `send()` calls, and receive them with **one** `recv()`;
2. send one line in two parts, and receive it with **two** `recv()` calls;
3. send a long line to a receiver with a small receive buffer, and count the pieces;
4. watch two small writes wait 40 ms for each other (**Nagle** and **delayed ACK**), and
   what `TCP_NODELAY` changes;
5. fix the message boundaries with **framing**: `lab.chat.wire.LineDecoder` cuts the stream into lines.

Exercise: [`exercises/ex02_framing.py`](../exercises/ex02_framing.py) (your own line framing).
See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
import socket
import time
from lab import notebook as nb
from lab.chat.wire import Line, LineDecoder, LineTooLong

lesson = nb.Lesson("3: TCP is a byte stream")
listener = lesson.listener()
port = listener.getsockname()[1]
cap = lesson.capture(port, "03-byte-stream")
sender, receiver, port = lesson.tcp_pair(listener=listener)
nagle_listener = lesson.listener()              # part 4 has its own port and capture
cap_nagle = lesson.capture(nagle_listener.getsockname()[1], "03-nagle")
print(f"a TCP connection on 127.0.0.1 port {port}: `sender` writes, `receiver` reads")
"""),
("md", r"""
We use two plain sockets joined by one TCP connection (no chat server), with
`TCP_NODELAY` set: the kernel then does not hold small writes back (part 4
shows what it does otherwise).

## 1. Three sends, one recv

**Predict:** the sender calls `send()` three times, one line each. The
receiver is busy and calls `recv(65536)` only once all the bytes have arrived
in its kernel, then in a loop until it has them all. How many `recv()` calls
return data, and what does the first one return?
"""),
("code", r"""
lines = [b"hello\n", b"how are you?\n", b"fine, thanks\n"]
for line in lines:
    sender.send(line)
nb.wait_queued(receiver, sum(map(len, lines)))   # the receiver is busy until all 32 bytes are in its buffer
merged = nb.recv_all(receiver, total=sum(map(len, lines)))
nb.show_chunks(merged)
"""),
("md", r"""
All three lines came back from **one** `recv()`. The receiver was not reading
when they arrived, so the kernel kept them in the socket's **receive buffer**,
one after the other; `recv()` hands over whatever is there, up to the size
asked for. It has no idea where one `send()` ended.

**Predict:** on the wire, did the three lines travel as one segment or three?
"""),
("code", r"""
cap.show_new("the handshake, then the three sends on the wire");
"""),
("md", r"""
After the handshake, most likely three data segments, one per `send()`, yet
one `recv()`. Segments are how TCP *carries* the bytes; they are not messages
either. Even with `TCP_NODELAY`, one segment per `send()` is not a promise:
Linux may hold a small write for a moment while earlier segments are still
queued in the machine (*autocorking*) and send them together; a
retransmission may carry several earlier segments at once; a small window
or a large write cuts one `send()` into several segments. What TCP promises
is the bytes, in order:
"""),
("code", r"""
packets = cap.next_step()
wire = b"".join(a.segment.payload for a in packets if a.role == "client")
data_segments = sum(1 for a in packets if a.role == "client" and a.segment.length)
nb.check(nb.Claim("the bytes on the wire are exactly the bytes sent, in order", wire == b"".join(lines),
                  f"{len(wire)} bytes in {data_segments} segment(s) for {len(lines)} send() calls"),
         nb.Claim("the receiver's recv() calls do not follow the send() calls", len(merged) != len(lines),
                  f"{len(lines)} send(), {len(merged)} recv() returned data"),
         source=cap)
"""),
("md", r"""

## 2. One line, two recvs

**Predict:** now one line is sent in two parts, 0.3 s apart (a slow sender, or
a long line crossing a slow network). The receiver is waiting in `recv()`.
What does each `recv()` return?
"""),
("code", r"""
nb.send_in_thread(sender, b"this line arrives in two parts\n", pieces=2, pause=0.3)
split = nb.recv_all(receiver, until=b"\n")
nb.show_chunks(split)
"""),
("md", r"""
`recv()` returns as soon as *some* bytes are there: the first half of the line,
then the rest. Code that treats each `recv()` as "one message" would see two
broken messages here, and one glued message in part 1.

## 3. A long line and a small receive buffer

The receiver's kernel can only hold as many bytes as its **receive buffer**
(`SO_RCVBUF`) allows, and it tells the sender how much room is left (the
**window**, in every ACK). We make a new connection whose receiver has a small
buffer (4096 bytes asked; Linux doubles the value for its bookkeeping).

**Predict:** the sender sends one line of 20,000 bytes with one `sendall()`.
How many `recv()` calls will the receiver need? Always the same number?
"""),
("code", r"""
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by the next accepted socket
small_sender, small_receiver, _ = lesson.tcp_pair(listener=listener)
big = b"x" * 19999 + b"\n"
nb.send_in_thread(small_sender, big)
time.sleep(0.2)                          # the receiver is busy for 0.2 s: its buffer fills, the window closes
big_chunks = nb.recv_all(small_receiver, total=len(big))
nb.show_chunks(big_chunks, "a 20,000-byte line through a small receive buffer")
"""),
("md", r"""
Several pieces, each at most what the buffer could hold at that moment. Run
the cell again: the number and sizes of the pieces can change with timing.
Only the *bytes* and their *order* are guaranteed. And the sender never
sent more than the receiver said it had room for (**flow control**: the
window in each of the receiver's ACKs):
"""),
("code", r"""
packets = cap.next_step()
nb.check(nb.Claim("same bytes, same order", b"".join(big_chunks) == big,
                  f"{sum(map(len, big_chunks))} bytes in {len(big_chunks)} recv() calls"),
         nb.wire_claims.within_window(packets, stream=1, sender="client"),
         source=cap)
"""),
("md", r"""
## 4. Two small writes, then a read: Nagle meets delayed ACK

Two old rules of TCP, each sensible alone:

* **Nagle's algorithm** (RFC 896; RFC 9293 section 3.7.4): while a small
  segment is unacknowledged, hold the next small one back and send them
  together later. It saves the network from floods of tiny packets.
* **Delayed ACK** (RFC 1122 section 4.2.3.2; RFC 9293 section 3.8.6.3): a
  receiver may wait a little before acknowledging, hoping to carry the ACK
  on its reply. Linux waits at least 40 ms.

A client sends a request as two small writes (a 10-byte header, then a
20-byte body) and waits for the answer; the server answers once it has the
whole request. We do six requests on one connection with `TCP_NODELAY` off,
the default of every socket, then six on another with it on.

**Predict:** how long does one request take on this machine, where a round
trip takes microseconds? Is the first request like the others?
"""),
("code", r"""
nagle_client, nagle_server, _ = lesson.tcp_pair(listener=nagle_listener, nodelay=False)
nagle_ms = nb.nagle.request_rounds(nagle_client, nagle_server, nodelay=False)
quick_client, quick_server, _ = lesson.tcp_pair(listener=nagle_listener, nodelay=True)
nodelay_ms = nb.nagle.request_rounds(quick_client, quick_server, nodelay=True)
nb.nagle.show_rounds(nagle_ms, nodelay_ms)
"""),
("md", r"""
About 40 ms per request with Nagle on, except the first; well under a
millisecond with `TCP_NODELAY`. The two rules wait for each other:

1. the header leaves at once (nothing is unacknowledged);
2. the body is small and the header is not acknowledged yet: Nagle holds it;
3. the server's kernel has the header but nothing to reply yet (the server
   waits for the body), so it delays its ACK: the 40 ms timer;
4. the timer fires, the ACK goes out, Nagle releases the body, the server
   answers.

Why not the first request? Linux starts each connection in **quick-ack
mode**, acknowledging at once, and switches to delayed ACKs once it sees the
connection is interactive (it sent data right after receiving: "ping-pong"
mode). A test with one request on a fresh connection would never see the
stall; that is why we did six. On the wire:
"""),
("code", r"""
nagle_packets = cap_nagle.next_step()
nb.nagle.show_request(nagle_packets, stream=0, number=2, source=cap_nagle.source)
nb.check(nb.nagle.stall_claims(nagle_packets), source=cap_nagle)
"""),
("md", r"""
The table shows the header, the server's lone ACK about 40 ms later, then the
body and the answer. This is why `lab/tcp/server.py` and the chat client set
`TCP_NODELAY`: a chat line should leave when it is written. The other cures
are to write each message with one `send()` (build the bytes first), or to
keep Nagle and batch on purpose.
"""),
("md", r"""
## 5. Framing: cutting the stream into messages

So the *application* must mark where each message ends and find those marks
again on the receiving side. The chat protocol ([docs/PROTOCOL.md](../docs/PROTOCOL.md))
ends each message with a **line end** (LF, CRLF or a lone CR). The receiver
keeps the bytes that arrived in a buffer, cuts out every complete line, and
keeps the unfinished tail for the next `recv()`. That is **framing**.

The server does it with `lab.chat.wire.LineDecoder`: `feed(bytes)` returns the
lines those bytes *complete*.

**Predict:** we feed it the pieces below, one after the other. What does each
`feed()` return?
"""),
("code", r"""
decoder = LineDecoder()
for piece in [b"hel", b"lo\r\nhow are", b" you?\r\n\r\nbye\n"]:
    print(f"feed({piece!r:24}) -> {[e.text for e in decoder.feed(piece) if isinstance(e, Line)]}")
"""),
("md", r"""
Nothing for `b"hel"` (no line end yet); `hello` once its line end arrives;
`how are you?` across two pieces; the empty line is skipped (the protocol
ignores empty lines). The output does not depend on how the bytes were cut.

Fed the chunks our real `recv()` calls returned in parts 1 and 2, it gives back
exactly the lines that were sent:
"""),
("code", r"""
decoder = LineDecoder()
for chunk in merged + split:
    print(f"feed({len(chunk)} bytes) -> {[e.text for e in decoder.feed(chunk) if isinstance(e, Line)]}")
"""),
("md", r"""
**Predict:** a character such as `é` takes 2 bytes in UTF-8. What goes wrong if
the receiver decodes each `recv()` chunk to text on its own, and a chunk ends
in the middle of `é`?
"""),
("code", r"""
data = "café ok\n".encode()            # é is b'\xc3\xa9'
first, second = data[:4], data[4:]      # cut between the two bytes of é
print("decoding each chunk alone:", repr(first.decode(errors="replace") + second.decode(errors="replace")))
decoder = LineDecoder()
print("LineDecoder:              ", [e.text for c in (first, second) for e in decoder.feed(c) if isinstance(e, Line)])
"""),
("md", r"""
Decoding piece by piece produces two replacement characters (`�`). The rule:
cut the **bytes** into lines first, decode each complete line afterwards.

Last: a framing layer must also have **limits**, or one client that never
sends a line end makes the server buffer without end. The chat allows 1024
bytes per line (docs/PROTOCOL.md, "Limits").

**Predict:** what does the chat's decoder make of a line of 8000 bytes?
"""),
("code", r"""
decoder = LineDecoder()   # the chat's limits: 1024 bytes per line, 8192 bytes without a line end
print(decoder.feed(big[:8000]) + decoder.feed(b"\n"))   # 8000 bytes of the line, then its end
"""),
("md", r"""
`LineTooLong(length=8000, limit=1024)`: the line is discarded and reported,
while memory stays bounded (the decoder only ever kept 1024 bytes). Past 8192
bytes with no line end at all it gives up on the client (`NoLineEnd`), and
the server closes that connection.

## Summary

* TCP keeps the **bytes** and their **order**, not the boundaries of `send()` calls.
* One `recv()` may return several messages, or part of one: never assume "one recv = one message".
  Not even `TCP_NODELAY` makes one `send()` one segment.
* The sender never sends beyond the window the receiver advertises (flow control).
* Nagle's algorithm and delayed ACK together stall a "write, write, read"
  exchange by about 40 ms; `TCP_NODELAY` (or one `send()` per message) avoids it.
* **Framing** (here: line ends) lets the receiver find the messages again;
  cut bytes first, decode afterwards, and enforce limits.

## Exercise

* [`exercises/ex02_framing.py`](../exercises/ex02_framing.py): write `LineBuffer.feed` and
  `encode_line` (no sockets: pure logic). Its tests feed lines cut at every
  possible place, CRLF split in two, UTF-8 split in two. It also enforces
  the chat's two limits (`lab.chat.wire`, docs/PROTOCOL.md): a line over
  **1024 bytes** is discarded and reported (`LineTooLong`), the session goes
  on; more than **8192 bytes without any line end** end it (`NoLineEnd`), so
  a peer that never ends its line cannot make the server keep bytes without
  end.
  And `feed` must do work in proportion to the new bytes only: a line fed
  one byte at a time must not cost n² steps.
  Test: `python -m pytest tests/graded/test_ex02_framing.py`.
"""),
("code", r"""
lesson.cleanup();
"""),
]

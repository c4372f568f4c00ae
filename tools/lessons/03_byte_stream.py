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
4. fix all of it with **framing**: `lab.chat.wire.LineDecoder` cuts the stream into lines.

Exercise: [`exercises/ex02_framing.py`](../exercises/ex02_framing.py) (your own line framing).
See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
import time
from lab import notebook as nb
from lab.chat.wire import Line, LineDecoder, LineTooLong

lesson = nb.Lesson("3: TCP is a byte stream")
listener = lesson.listener()
port = listener.getsockname()[1]
cap = lesson.capture(port, "03-byte-stream")
sender, receiver, port = lesson.tcp_pair(listener=listener)
print(f"a TCP connection on 127.0.0.1 port {port}: `sender` writes, `receiver` reads")
"""),
("md", r"""
We use two plain sockets joined by one TCP connection (no chat server), with
`TCP_NODELAY` set, so that each `send()` leaves at once as its own segment.

## 1. Three sends, one recv

**Predict:** the sender calls `send()` three times, one line each. A moment
later the receiver calls `recv(65536)` in a loop until it has all the bytes.
How many `recv()` calls return data, and what does the first one return?
"""),
("code", r"""
lines = [b"hello\n", b"how are you?\n", b"fine, thanks\n"]
for line in lines:
    sender.send(line)
time.sleep(0.2)                         # the receiver is busy for a moment
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
After the handshake, three data segments (one per `send()`, because of `TCP_NODELAY`), yet one
`recv()`. Segments are how TCP *carries* the bytes; they are not messages
either: without `TCP_NODELAY` (Nagle's algorithm), or on a busy link, TCP may
put several `send()`s in one segment, or cut one `send()` into several.

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
small_sender, small_receiver, _ = lesson.tcp_pair(rcvbuf=4096)
big = b"x" * 19999 + b"\n"
nb.send_in_thread(small_sender, big)
time.sleep(0.2)
big_chunks = nb.recv_all(small_receiver, total=len(big))
nb.show_chunks(big_chunks, "a 20,000-byte line through a small receive buffer")
"""),
("md", r"""
Several pieces, each at most what the buffer could hold at that moment. Run
the cell again: the number and sizes of the pieces can change with timing.
Only the *bytes* and their *order* are guaranteed, and they are:
"""),
("code", r"""
print("same bytes, same order:", b"".join(big_chunks) == big)
"""),
("md", r"""
## 4. Framing: cutting the stream into messages

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
* **Framing** (here: line ends) lets the receiver find the messages again;
  cut bytes first, decode afterwards, and enforce limits.

## Exercise

* [`exercises/ex02_framing.py`](../exercises/ex02_framing.py): write `LineBuffer.feed` and
  `encode_line` (no sockets: pure logic). Its tests feed lines cut at every
  possible place, CRLF split in two, UTF-8 split in two.
  Test: `python -m pytest tests/graded/test_ex02_framing.py`.
"""),
("code", r"""
lesson.cleanup();
"""),
]

"""Lesson 3 helpers: Nagle's algorithm meets delayed ACK (two small writes, then a read).

The experiment: a client sends a request as two small writes (a 10-byte
header, then a 20-byte body) and waits for a 3-byte answer; the server
answers once it has the whole request.  Round after round, with
TCP_NODELAY off (Nagle's algorithm on) and then on.

* Nagle (RFC 896; RFC 9293 section 3.7.4): while a small segment is
  unacknowledged, the sender holds the next small one back.  So the body
  waits for the ACK of the header.
* Delayed ACK (RFC 1122 4.2.3.2; RFC 9293 3.8.6.3): a receiver may wait up
  to 500 ms (Linux: 40 ms minimum, TCP_DELACK_MIN) before acknowledging,
  hoping to carry the ACK on its reply.  The server has no reply to send
  before it has the body, so the ACK of the header waits for the timer.

Each waits for the other until the timer fires: about 40 ms per request.
Linux starts every connection in *quick-ack* mode (it acknowledges at once,
to let the sender's window grow) and switches to delayed ACKs once the
connection looks interactive (it sent data right after receiving:
"ping-pong" mode).  Measured on this kernel: the first round is quick, every
round after it waits 44 ms.  That is why the experiment makes several
rounds on one connection: a single exchange on a fresh connection would
not show the stall.
"""

from __future__ import annotations

import socket
import threading
import time

from lab.notebook.claims import Claim
from lab.notebook.display import show, table

HEADER = b"HEAD 0001\n"            # 10 bytes
BODY = b"the body of request\n"    # 20 bytes
ANSWER = b"ok\n"
ROUNDS = 6
# A delayed ACK waits at least TCP_DELACK_MIN (40 ms); anything ACKed this
# late was delayed, not slowed by a busy machine (which only makes it later).
DELAYED_ACK_MS = 30


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the connection closed in the middle of the experiment")
        data += chunk
    return data


def request_rounds(client: socket.socket, server_side: socket.socket, nodelay: bool,
                   rounds: int = ROUNDS, timeout: float = 5.0) -> list[float]:
    """``rounds`` requests (header, body as two send() calls, then read the answer); each one's time in ms.

    Sets TCP_NODELAY on both sockets to ``nodelay`` first.  The server side
    answers from a thread once it has the whole request.
    """
    for sock in (client, server_side):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        sock.settimeout(timeout)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            for _ in range(rounds):
                _recv_exactly(server_side, len(HEADER) + len(BODY))
                server_side.sendall(ANSWER)
        except (OSError, ConnectionError) as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve, name="nagle-server", daemon=True)
    thread.start()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        client.send(HEADER)
        client.send(BODY)
        _recv_exactly(client, len(ANSWER))
        times.append((time.perf_counter() - began) * 1000)
    thread.join(timeout)
    if failure:
        raise failure[0]
    return times


def show_rounds(nagle_ms: list[float], nodelay_ms: list[float]) -> None:
    """The two runs side by side: each request's time, in ms."""
    rows = [{"request": i + 1, "TCP_NODELAY off (Nagle on)": f"{a:.1f} ms", "TCP_NODELAY on": f"{b:.1f} ms"}
            for i, (a, b) in enumerate(zip(nagle_ms, nodelay_ms))]
    show(table(rows, "two small writes, then a read: time per request"))


def rounds_on_wire(packets, stream: int) -> list[dict]:
    """Each request of connection ``stream`` as seen on the wire (pure).

    For every header segment: the body (its own segment, or the header's
    segment when both left together), the server's first packet that
    acknowledges the header and how long after the header it came, whether
    the body left after that ACK (``after_ack``) and whether it so waited for
    a *delayed* ACK (``waited``: the ACK came 30 ms or more after the header).
    """
    conn = [a for a in packets if a.stream == stream and a.segment.proto == "tcp"]
    out = []
    for i, a in enumerate(conn):
        s = a.segment
        if a.role != "client" or s.length not in (len(HEADER), len(HEADER) + len(BODY)):
            continue
        if s.length == len(HEADER) and not s.payload.startswith(HEADER[:4]):
            continue
        end = (s.seq + len(HEADER)) % (1 << 32)
        ack = next((b for b in conn[i + 1:] if b.role == "server" and (b.segment.ack - end) % (1 << 32) < (1 << 31)),
                   None)  # the server's first packet whose ack covers the header
        if s.length == len(HEADER) + len(BODY):
            body, merged = a, True
        else:
            body = next((b for b in conn[i + 1:] if b.role == "client" and b.segment.length), None)
            merged = False
        after_ack = not merged and ack is not None and body is not None and conn.index(body) > conn.index(ack)
        ack_ms = (ack.segment.ts_ns - s.ts_ns) / 1e6 if ack is not None else None
        out.append({"header": a, "body": body, "ack": ack, "merged": merged, "after_ack": after_ack,
                    "ack_ms": ack_ms, "waited": after_ack and ack_ms >= DELAYED_ACK_MS})
    return out


def show_request(packets, stream: int = 0, number: int = 2, source: str = "") -> None:
    """The packets of request ``number`` (from 1) of connection ``stream``: header to answer, explained."""
    from lab.capture.render import packet_table

    requests = rounds_on_wire(packets, stream)
    if len(requests) < number:
        show(f"the capture has only {len(requests)} requests on connection {stream}")
        return
    conn = [a for a in packets if a.stream == stream and a.segment.proto == "tcp"]
    first = conn.index(requests[number - 1]["header"])
    last = conn.index(requests[number]["header"]) if len(requests) > number else len(conn)
    shown = conn[first:last]
    show(packet_table(shown, t0=shown[0].segment.time,
                      title=f"request {number} with TCP_NODELAY off: {len(shown)} packets ({source})"))


def stall_claims(packets, nagle_stream: int = 0, nodelay_stream: int = 1) -> list[Claim]:
    """What lesson 3 says about the two connections of the experiment, checked on their packets."""
    nagle, nodelay = rounds_on_wire(packets, nagle_stream), rounds_on_wire(packets, nodelay_stream)
    if len(nagle) < 2 or len(nodelay) < 2:
        return [Claim("the capture shows the requests of both connections", False,
                      f"found {len(nagle)} and {len(nodelay)} requests")]
    delays = ", ".join(f"{r['ack_ms']:.1f}" if r["ack_ms"] is not None else "-" for r in nagle)
    late = [r for r in nagle if r["ack_ms"] is not None and r["ack_ms"] >= DELAYED_ACK_MS]
    return [
        Claim("with TCP_NODELAY off, every body left only after the ACK of its header (Nagle's rule)",
              all(r["after_ack"] for r in nagle),
              f"{sum(r['after_ack'] for r in nagle)} of {len(nagle)} requests: header, the server's ACK, "
              "then the body"),
        Claim("the server's kernel delayed that ACK by about 40 ms (delayed ACK), so the body waited", bool(late),
              f"the ACK of the header came {delays} ms after it, request by request"),
        Claim("with TCP_NODELAY on, no body waited for a delayed ACK", not any(r["waited"] for r in nodelay),
              f"{sum(not r['merged'] for r in nodelay)} bodies in their own segment, "
              f"{sum(r['merged'] for r in nodelay)} in the header's segment; the ACK of the header came "
              + ", ".join(f"{r['ack_ms']:.1f}" if r["ack_ms"] is not None else "-" for r in nodelay) + " ms after it"),
    ]

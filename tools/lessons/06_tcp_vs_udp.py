"""Lesson 6: TCP vs UDP under loss, on an emulated network."""

CELLS = [
("md", r"""
# Lesson 6 — TCP vs UDP under loss

*About 30 minutes.*

**UDP** sends **datagrams**: independent messages with no connection, no
handshake, no sequence numbers, no acknowledgements and no retransmission. A
lost datagram is simply gone. **TCP** repairs loss: every byte is
acknowledged, and what is not acknowledged in time is sent again.

In this lesson you will:

1. send UDP datagrams on this machine and see that UDP **keeps message
   boundaries** (unlike TCP, lesson 3) and has no handshake;
2. run the same chat over TCP and over UDP through a **router that loses 20 %
   of the packets**, and compare what arrives, in which order, and how late.

The lossy network is *emulated* with Linux network namespaces (`lab/net/netlab.py`,
[docs/NETLAB.md](../docs/NETLAB.md)): separate "hosts" with their own addresses
on one machine, and a router whose firewall (nftables) drops a random share of
the packets it forwards. That needs root; without it, this notebook runs the
UDP half through a lossy relay on 127.0.0.1 and says so.

Exercise: [`exercises/ex06_udp.py`](../exercises/ex06_udp.py) (datagrams, a relay, counting loss
with sequence numbers). See [docs/EXERCISES.md](../docs/EXERCISES.md) and [docs/UDP.md](../docs/UDP.md).
"""),
("code", r"""
import socket
import matplotlib.pyplot as plt
from lab import notebook as nb
from lab.experiments.compare import expected_udp_delivery, plot_compare

lesson = nb.Lesson("6: TCP vs UDP under loss")
"""),
("md", r"""
## 1. Datagrams keep their boundaries

A UDP socket is made with `SOCK_DGRAM`. The receiver `bind()`s a port; the
sender just calls `sendto(data, address)`: no `listen()`, no `accept()`, no
`connect()` needed.

**Predict:** the sender sends three datagrams quickly; then the receiver calls
`recvfrom(65536)` three times. What does each call return? (Compare with the
three `send()`s and one `recv()` of lesson 3.)
"""),
("code", r"""
receiver = lesson.close_later(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "UDP receiver")
receiver.bind((nb.HOST, 0))
udp_port = receiver.getsockname()[1]
cap = lesson.capture(udp_port, "06-udp")
sender = lesson.close_later(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "UDP sender")
for text in (b"hello\n", b"how are you?\n", b"fine, thanks\n"):
    sender.sendto(text, (nb.HOST, udp_port))
receiver.settimeout(2)
for _ in range(3):
    data, source = receiver.recvfrom(65536)
    print(f"recvfrom() -> {data!r} from {source}")
"""),
("md", r"""
One datagram per `recvfrom()`, exactly as sent: UDP keeps **message
boundaries** (a datagram arrives whole, or not at all). And on the wire:
"""),
("code", r"""
cap.show_new("three datagrams");
"""),
("md", r"""
Three packets, no handshake before them, no acknowledgements after them. The
sender does not know whether anything arrived: if the receiver's program were
not running, `sendto()` would have succeeded all the same.

## 2. The chat under loss

The experiment (`lab/experiments/compare/`, also `sudo chatlab compare`): an emulated
network with the chat server on one host and two clients on two others, all
behind a router. A *sender* joins the chat and sends 200 numbered messages, one
every 10 ms; a *receiver* notes when each one arrives. First over TCP (the
lab's server), then over UDP (the lab's UDP chat server, same protocol). The
router drops **20 %** of the packets it forwards, at random, in both directions.

Each message crosses the router **twice**: sender to server, then server to
receiver.

**Predict:**

1. Over UDP, what share of the 200 messages should reach the receiver?
2. Over TCP?
3. Which one delivers its messages sooner, and what does the slowest TCP
   message wait for?
"""),
("code", r"""
print(f"UDP: each crossing passes with probability 0.8; two crossings: 0.8 x 0.8 = "
      f"{expected_udp_delivery(20):.2f}, so about {200 * expected_udp_delivery(20):.0f} of 200 messages")
results = nb.compare(loss=20, messages=200, seed=7)
print(results["note"])
nb.compare_table(results)
"""),
("code", r"""
fig = plot_compare(results)
plt.show()
"""),
("md", r"""
What to read in the table and the plot:

* **UDP** lost roughly a third of the messages, close to the 64 % delivery the
  arithmetic predicts, and nothing was sent again. The messages that did
  arrive came within a millisecond or so.
* **TCP** delivered **every** message, **in order**, but paid with
  **retransmissions** (counted on the wire by the capture in the router, and
  by the kernel in `TCP_INFO`) and with **latency**: when a segment is lost,
  every later message waits behind it until the retransmission arrives, even
  messages that crossed the router fine. That is **head-of-line blocking**.
  A lost segment is resent after three duplicate ACKs (*fast retransmit*) or
  when the retransmission timer expires (at least 200 ms on Linux, doubling
  after each failed attempt), hence the long tail.

A chat wants TCP's guarantees. Voice or game updates often prefer UDP: an old
sample is worthless once a newer one exists, so waiting for it is worse than
losing it.

The counts from the wire, when the emulated network ran (the router's
capture, checked against Wireshark's own analysis when `tshark` is installed):
"""),
("code", r"""
tcp = results["tcp"]
if "wire" in tcp:
    print("TCP segments with data seen by the router:", tcp["wire"]["segments_with_data"])
    print("retransmissions on the wire:            ", tcp["wire"]["retransmissions"])
    print("the kernel's count (TCP_INFO):           ", tcp["tcp_info_total_retrans"])
    print("Wireshark's labels:                      ", tcp["wire"]["wireshark"])
else:
    print("TCP half skipped:", tcp.get("skipped"))
print("UDP, the receiver's count by sequence number:", results["udp"]["sequence_numbers"]["at_receiver"])
"""),
("md", r"""
The UDP chat puts a **sequence number** in every datagram (docs/UDP.md), so
the receiver can *count* what it missed, even though nothing repairs it. That
is what exercise 6 asks you to write.

## Summary

* UDP: datagrams, boundaries kept, no connection, no ACKs, no retransmission:
  loss is visible to the application (or not at all).
* TCP: every byte delivered in order, repaired by retransmission; the price
  is latency, and one loss delays everything behind it.
* With loss p per crossing, a datagram that crosses k links arrives with
  probability (1 - p)^k.

## Exercise

* [`exercises/ex06_udp.py`](../exercises/ex06_udp.py): send and receive datagrams, a relay, and
  loss counting with sequence numbers.
  Test: `python -m pytest tests/graded/test_ex06_udp.py`.
* At a terminal (root): `sudo .venv/bin/chatlab compare --loss 10` and
  `--loss 40`; or build the network by hand with `sudo .venv/bin/chatlab netlab up --loss 20`
  and run `chatlab server` / `chatlab client` inside its hosts (docs/NETLAB.md).
"""),
("md", r"""
## Going further: reliable delivery over UDP (exercise 12)

An application can make UDP reliable itself: number the datagrams,
acknowledge them, send again what is not acknowledged in time. That is
TCP's job, rebuilt on top of UDP; exercise 12 has you write it, and the
kit has a reference of its own (`lab/udp/reliable.py`). The experiment
above ran it as a third row, on the same 200 messages, through the same
lossy path (twice across it, like the chat's messages):

* the sender numbers every datagram (32 bits, wrapping around) and keeps up
  to 32 of them in flight before the first acknowledgement returns: a
  **sliding window**;
* the receiver answers every datagram with a **cumulative ACK**, "I have
  every datagram before *n*", keeps the ones that arrive early, drops
  duplicates, and hands the messages over in order;
* what is not acknowledged within the **retransmission timeout** is sent
  again, and the whole window with it (**Go-Back-N**). The timeout follows
  the round-trip time the way RFC 6298 computes it for TCP: at least 200 ms
  (Linux's minimum; the RFC says 1 s), doubling after each expiry (capped at
  1 s here, where RFC 6298 allows a cap only at 60 s or more: nothing on
  this path is congested).

**Predict:**

1. How many of the 200 messages does reliable UDP deliver, and in which order?
2. How many datagrams does its sender send: about 200, like plain UDP, or more?
3. Its latency: closer to plain UDP's (a fraction of a millisecond) or to
   TCP's? What does a message that crossed the path fine wait for?
"""),
("code", r"""
from lab.experiments.compare import run_compare, three_rows
from lab.experiments.compare.explain import explain_reliable

if "sent" not in results.get("reliable", {}):
    nb.note("These results have no reliable UDP row: it runs now, through lossy relays on 127.0.0.1.")
    results["reliable"] = run_compare(loss=20, messages=200, seed=7, force_loopback=True)["reliable"]
rel = results["reliable"]
nb.show(nb.table(three_rows(results), f"{results['messages']} messages, {results['loss']} % loss per crossing"))
print(explain_reliable(results))
"""),
("md", r"""
Checked on what was just measured (the cell stops with ✗ if the run
disagrees):
"""),
("code", r"""
def claim(ok, text):
    if not ok:
        raise AssertionError(f"✗ not what this run measured: {text}")
    print(f"✓ {text}")

at_rx = rel["at_receiver"]
claim(rel["delivered"] == rel["sent"] and rel["lost"] == 0, f"reliable UDP delivered all {rel['sent']} messages")
claim(rel["out_of_order"] == 0 and rel["duplicated"] == 0,
      f"in order and each once, although {at_rx['duplicates']} datagrams reached the receiver twice and "
      f"{at_rx['out_of_order']} arrived ahead of a gap")
claim(rel["retransmissions"] > 0, f"its sender sent {rel['retransmissions']} datagrams again")
claim(rel["datagrams_sent"]["sender"] > results["udp"]["sent"],
      f"{rel['datagrams_sent']['sender']} datagrams for {rel['sent']} messages (plain UDP: one each), "
      f"and {rel['datagrams_sent']['receiver']} ACKs back")
if "wire" in rel and rel["wire"]["tcpdump"].get("dropped_by_kernel") == 0:
    claim(rel["wire"]["retransmissions_from_sender"] == rel["retransmissions"],
          "the router's capture holds every retransmission the sender counted "
          f"({rel['wire']['retransmissions_from_sender']})")
"""),
("md", r"""
What to read in it:

* **Everything arrives, in order**, as over TCP: the receiver's
  reassembly hides the duplicates and the reordering it saw.
* **Many more datagrams.** Every timeout sends the whole window again,
  including datagrams that had arrived: a cumulative ACK says where the
  first gap is, and nothing about what came after it. That is why
  Go-Back-N's receiver sees so many duplicates. Selective repeat would
  resend only the gaps, but it needs an acknowledgement per datagram; TCP
  gets the same knowledge from **SACK** (RFC 2018), which Linux uses.
* **Latency.** A message that crossed fine still waits for every message
  before it (the receiver delivers in order: head-of-line blocking, as in
  TCP), and every loss costs at least one timeout, 200 ms or more, doubling
  while the retransmissions are lost too. Linux's TCP need not wait for its
  timer for most losses: with SACK and **RACK-TLP** (RFC 8985) it resends a
  lost segment about one round trip after a later segment is acknowledged
  (the textbook rule, "fast retransmit after three duplicate ACKs", RFC
  5681, is the older form of the same idea). It falls back on its timer
  when the retransmission or the ACKs are lost too, which at 20 % loss in
  both directions is often, and its congestion window collapses after each
  timeout: that is why TCP's latency is counted in seconds here as well.
  Compare the rows' p50 and max above.
* Making UDP reliable is what **QUIC** (RFC 9000, 9002, under HTTP/3)
  does, with TCP's improvements (selective acknowledgements, loss detection
  without waiting for the timer) and congestion control.

Exercise 12: [`exercises/ex12_reliable.py`](../exercises/ex12_reliable.py),
graded step by step (`python -m pytest tests/graded/test_ex12_reliable.py`);
try your work through a lossy path with `chatlab relay`
([docs/EXERCISES.md](../docs/EXERCISES.md), [docs/UDP.md](../docs/UDP.md)).
"""),
("code", r"""
lesson.cleanup();
"""),
]

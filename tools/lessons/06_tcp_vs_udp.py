"""Lesson 6: TCP vs UDP under loss, on an emulated network."""

CELLS = [
("md", r"""
# Lesson 6 — TCP vs UDP under loss

*About 40 minutes.*

**UDP** sends **datagrams**: independent messages with no connection, no
handshake, no sequence numbers, no acknowledgements and no retransmission. A
lost datagram is simply gone. **TCP** repairs loss: every byte is
acknowledged, and what is not acknowledged is sent again.

In this lesson you will:

1. send UDP datagrams on this machine and see that UDP **keeps message
   boundaries** (unlike TCP, lesson 3), has no handshake, cuts a datagram to
   the buffer you read it with, and mostly does not tell you when nobody listens;
2. run the same chat over TCP and over UDP through a **router that loses 20 %
   of the packets**, and compare what arrives, in which order, and how late;
3. read in the router's capture **how** TCP repaired each loss, and why some
   messages waited seconds;
4. put every counter side by side and see what each one counts.

The lossy network is *emulated* with Linux network namespaces (`lab/net/netlab.py`,
[docs/NETLAB.md](../docs/NETLAB.md)): separate "hosts" with their own addresses
on one machine, and a router whose firewall (nftables) drops a random share of
the packets it forwards. That needs root; without it, this notebook runs the
two UDP rows (plain and reliable) through lossy relays on 127.0.0.1 and
shows the TCP half of a run recorded with this notebook, and says so.

Exercise: [`exercises/ex06_udp.py`](../exercises/ex06_udp.py) (datagrams, a relay, counting loss
with sequence numbers). See [docs/EXERCISES.md](../docs/EXERCISES.md) and [docs/UDP.md](../docs/UDP.md).
"""),
("code", r"""
import socket
import matplotlib.pyplot as plt
from lab import notebook as nb
from lab.capture.files import read_pcap
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
messages = [b"hello\n", b"how are you?\n", b"fine, thanks\n"]
for text in messages:
    sender.sendto(text, (nb.HOST, udp_port))
receiver.settimeout(2)
for _ in range(3):
    data, source = receiver.recvfrom(65536)
    print(f"recvfrom() -> {data!r} from {source}")
"""),
("md", r"""
One datagram per `recvfrom()`, exactly as sent: UDP keeps **message
boundaries**. And on the wire:
"""),
("code", r"""
cap.show_new("three datagrams")
nb.check(nb.wire_claims.udp_datagrams_whole(cap.next_step(), messages), source=cap)
"""),
("md", r"""
Three packets, no handshake before them, no acknowledgements after them. The
sender does not know whether anything arrived.

**Predict:** a datagram of 40 bytes arrives, and the receiver reads it with
`recvfrom(16)`. What does it get, and where do the other 24 bytes go?
"""),
("code", r"""
cut = nb.datagrams.truncate(size=40, bufsize=16)
print(f"recvfrom({cut.bufsize}) returned {cut.got} bytes; MSG_TRUNC: {cut.truncated_flag}; "
      f"the next receive found {cut.next_call}")
nb.check(nb.Claim("a datagram is read whole or cut: what does not fit the buffer is discarded",
                  cut.got == cut.bufsize and cut.truncated_flag and cut.next_call.startswith("nothing"),
                  f"{cut.sent} bytes sent, {cut.got} read, MSG_TRUNC set, {cut.next_call}"))
"""),
("md", r"""
A datagram is one unit: one `recvfrom()` takes all of it or a cut-off
beginning (`recvmsg()` says `MSG_TRUNC`), never "the rest later" as a TCP
byte stream would. A datagram also arrives whole or not at all: if the
network (IP fragmentation included) loses any piece of it, the receiver gets
nothing. Hence the UDP chat's 1200-byte limit (docs/UDP.md).

**Predict:** a datagram is sent to a port where nothing listens. The other
machine's kernel answers with an ICMP "port unreachable" message. Does the
sender's program find out? Once from a plain socket (`sendto()`), once from a
*connected* UDP socket (`connect()`, then `send()`).
"""),
("code", r"""
nobody = nb.datagrams.unreachable()
print("plain socket:    ", nobody.unconnected_error)
print("connected socket:", nobody.connected_error)
nb.check(nb.Claim("on Linux only a connected UDP socket hears of the ICMP port unreachable",
                  nobody.unconnected_error.startswith("no error") and "ConnectionRefusedError" in
                  nobody.connected_error, f"plain: {nobody.unconnected_error}; connected: {nobody.connected_error}"))
"""),
("md", r"""
`connect()` on a UDP socket sends nothing; it fixes the peer's address, so the
kernel can tell this socket which datagram the ICMP error was about, and the
*next* call on it raises `ConnectionRefusedError`. An unconnected socket
talks to many peers and is told nothing (unless it asks with the `IP_RECVERR`
option and reads its error queue). Either way the error comes back only
because a kernel answered: a firewall that drops the datagram, or a lost
ICMP message, leaves the sender knowing nothing at all.

## 2. The chat under loss

The experiment (`lab/experiments/compare/`, also `sudo .venv/bin/chatlab compare`): an emulated
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
results = nb.compare(loss=20, messages=200, seed=7, keep=lesson.tempdir())
print(results["note"])
nb.compare_table(results)
"""),
("code", r"""
fig = plot_compare(results)
plt.show()
"""),
("md", r"""
What to read in the table and the plot:

* **UDP** lost roughly a third of the messages, around the 36 % the
  arithmetic predicts (the router's random drops vary from run to run), and
  nothing was sent again. The messages that did arrive came within a
  millisecond or so.
* **TCP** delivered **every** message, **in order**, and paid with
  retransmissions and with **latency**: look at its p50 and max, hundreds of
  milliseconds, in some runs seconds. Why so long, when a round trip between
  these namespaces takes a tenth of a millisecond? The router's capture
  shows it. (In about one run of thirty or forty, a timer backs off so far that the
  receiver stops waiting, after 30 s, before the last messages arrive: the
  table then shows them *still in flight*, and the note under it reads in
  the kernel's `TCP_INFO` which socket still held them, and why. TCP had not
  lost them.)

## 3. How TCP repaired the losses

The router's capture holds every packet as it *entered* the router, before
the loss rule dropped some of them: every transmission, lost ones included.
For each retransmission, the table says how long after the previous copy of
those bytes it left, and how many **duplicate ACKs** the receiver had sent
in between (an ACK repeating the number of the first missing byte, each
sent because a later segment arrived; on Linux they carry **SACK** blocks,
RFC 2018, naming what did arrive).

**Predict:** the textbook rule (RFC 5681, *fast retransmit*) resends a
segment after **three** duplicate ACKs, or when the retransmission timer
expires. How many duplicate ACKs will you see before most retransmissions here?
"""),
("code", r"""
resends = nb.repair.find_resends(read_pcap(results["tcp_pcap"]))
nb.repair.show_repairs(resends)
"""),
("md", r"""
Mostly **one**. Three duplicate ACKs is the classic rule, and it is not what
Linux does. Linux uses SACK with **RACK** (RFC 8985): a segment is lost as
soon as a segment sent *after* it has been SACKed and a short reordering
window has passed. Here a message leaves every 10 ms, so the next message
10 ms later brings back the SACK, and the lost one is resent at once
(`repaired by: SACK`, `waited` about 10 ms). When no later segment comes
(the last one in flight was lost), Linux sends a **tail loss probe** (TLP,
also RFC 8985) after about two round trips, to provoke a SACK instead of
waiting for the timer (`probe`).
"""),
("code", r"""
nb.check(nb.repair.repair_claims(resends), nb.tcp_claims(results, resends)[:1], source=nb.tcp_source(results))
"""),
("md", r"""
So where do the seconds come from? From the rows `repaired by: timer`. When
a retransmission is lost too, or every ACK that would have told the sender
is lost (the router drops 20 % of the ACKs as well), only the
**retransmission timeout** is left (RTO, RFC 6298: at least 200 ms on
Linux). And two things make a timeout expensive:

* **the timer backs off**: each further timeout of the same data doubles it
  (200, 400, 800, 1600 ms...), see the chain below;
* **the window collapses**: after a timeout, TCP's congestion control
  assumes the network is congested and cuts its congestion window to one
  segment (RFC 5681: `cwnd = 1 MSS`, then slow start again). With one
  segment allowed in flight, and that one the retransmission, *nothing else
  may be sent* until it is acknowledged: the messages the chat wrote
  meanwhile pile up in the sender's buffer.

That is also **head-of-line blocking** at the receiver: a line that arrived
waits in the kernel until the missing bytes before it arrive, because TCP
delivers the byte stream in order. But here most of the waiting happened
at the *sender*, behind the collapsed window: look for a large segment right
after a timer repair in the capture: all the queued messages at once.
"""),
("code", r"""
chain = nb.repair.timer_chain(resends)
if len(chain) > 1:
    print(f"the longest chain of timeouts: {chain[0].flow}, bytes at relative seq {chain[0].seq}, sent again after "
          + ", ".join(f"{r.waited_ms:.0f}" for r in chain) + " ms: the timer doubles each time")
else:
    print("no retransmission was lost twice in this run: the timer did not have to back off")
"""),
("md", r"""
A chat wants TCP's guarantees: every message, in order, and the
application did nothing for it. Voice or game updates often prefer UDP: an
old sample is worthless once a newer one exists, so waiting for it is worse
than losing it.

## 4. Every counter, and what it counts

Counts of "losses" and "retransmissions" come from different places and
count different things: the router's capture counts packets; the kernels
(`TCP_INFO`) count MSS-sized segments, and on this virtual link one packet
can carry several (GSO); Wireshark splits the same retransmissions into two
labels (read here with `tshark`, Wireshark without its windows, when it is
installed); UDP's receiver can only count the gaps it sees. Side by side:
"""),
("code", r"""
nb.counters(results, resends)
nb.check(nb.tcp_claims(results, resends)[1:], nb.udp_claims(results))
"""),
("md", r"""
The UDP chat puts a **sequence number** in every datagram (docs/UDP.md), so
the receiver can *count* what it missed, even though nothing repairs it:
every gap below the highest number it saw. A message lost after the last one
that arrived leaves no gap; only the sender, who knows it sent 200, can
count it. That is what exercise 6 asks you to write.

## Summary

* UDP: datagrams, boundaries kept, no connection, no ACKs, no retransmission:
  a datagram arrives whole or not at all, and a loss stays a loss.
* TCP: every byte delivered in order, repaired by retransmission. Linux
  repairs most losses after one SACK (RACK-TLP, RFC 8985), not after the
  textbook three duplicate ACKs (RFC 5681); the seconds of latency come from
  timeouts: the timer backs off, and the congestion window falls to one
  segment, so everything behind waits.
* With loss p per crossing, a datagram that crosses k links arrives with
  probability (1 - p)^k.

## Exercise

* [`exercises/ex06_udp.py`](../exercises/ex06_udp.py): send and receive datagrams, a relay, and
  loss counting with sequence numbers (the tail included).
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

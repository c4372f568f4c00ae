"""Lesson 8: TCP under the microscope -- RTT, the retransmission timer, flow and congestion control."""

CELLS = [
("md", r"""
# Lesson 8 — TCP under the microscope

*About 40 minutes.*

Lesson 6 showed *that* TCP delivers everything through a lossy network. This
lesson shows *how*: one connection, one bulk transfer, every segment
captured, and the sender's kernel read every 5 ms at the same time.

A member of the chat pastes a whole book (Lewis Carroll's *Alice's Adventures
in Wonderland*, 142 KB of public-domain text shipped with the kit) through an
**emulated Internet** (`lab/net/netlab.py`, [docs/NETLAB.md](../docs/NETLAB.md)):
a router that adds **20 ms each way** (a 40 ms round trip), sends at most
**2 Mbit/s** with a **16 KB queue** (when it is full, packets are dropped), and
loses **1 %** of the packets, chosen by a seeded random generator so that
every run of this notebook loses the same ones.

The capture is taken on the **sender's** interface, as in the Kurose-Ross
"Wireshark Lab: TCP" (which captures a browser uploading a file): a data
segment and the ACK that acknowledges it are then one real round trip apart.
You will answer that lab's questions from this capture, then go further:

1. the handshake and the MSS;
2. sequence numbers, RTT samples, EstimatedRTT, segment lengths, the
   receive window, retransmissions, throughput;
3. the time-sequence graph: slow start, and where it ends;
4. the **retransmission timer** (RFC 6298) computed from the samples, next
   to the kernel's own;
5. what a **timeout** does to the congestion window;
6. **flow control**: a receiver that stops reading.

It needs root for the emulated network and the capture; without it the
notebook replays runs recorded by the same code, and says so.

Exercise: [`exercises/ex10_rtt.py`](../exercises/ex10_rtt.py) (RTT samples with Karn's rule, the
RFC 6298 estimator, goodput). See [docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
import matplotlib.pyplot as plt
from lab import notebook as nb
from lab.notebook import microscope as mic

lesson = nb.Lesson("8: TCP under the microscope")
"""),
("md", r"""
## 1. The MSS is the link's, not TCP's

Each side's SYN carries options: the **MSS** (maximum segment size: the
largest payload it wants to receive in one segment), the **window scale**,
**SACK permitted** and **timestamps** (RFC 9293, RFC 7323, RFC 2018).

**Predict:** on the loopback interface `lo` (MTU 65,536 bytes), what MSS will
the SYN announce? And through the lab's router, whose links have the
Ethernet MTU of 1,500 bytes?
"""),
("code", r"""
server = lesson.server()
cap = lesson.capture(server.address[1], "08-syn-options")
member = lesson.peer(server, "mss")
syn = next(p for p in cap.new() if p.step.startswith("SYN 1/3"))
print(f"SYN on lo: {', '.join(syn.segment.options)}")
"""),
("md", r"""
On `lo` the MSS is **65,495**: the largest IP packet is 65,535 bytes, minus 20
bytes of IP header and 20 of TCP header. The kernel derives the MSS from the
MTU of the interface the route uses; nothing in TCP fixes it. Now the lab:
the book is pasted through the router (this takes a few seconds).
"""),
("code", r"""
bulk = mic.bulk_run(lesson, "08-bulk")
print(f"network: {bulk.settings}")
print("\n".join(bulk.paste))
h = mic.handshake(bulk)
print(f"client's SYN options: {h['client_options']}")
print(f"server's SYN options: {h['server_options']}")
nb.check(mic.handshake_claims(bulk), source=bulk.source)
"""),
("md", r"""
**1,460 = 1,500 − 20 − 20.** The `paste` lines above are the sender's view:
`sendall()` returned before the server's TCP had acknowledged the last
byte, because the kernel keeps what is not yet acknowledged in its send
buffer. A program that "has sent" its data has only handed it to its kernel.

## 2. The Kurose-Ross questions, from this capture

**Sequence numbers.** The SYN's sequence number is the client's *initial
sequence number* (ISN); RFC 9293 and RFC 6528 make it a clock plus a keyed
hash of the connection's addresses and ports, so it is unpredictable to an
outsider and differs from one connection to the next. Wireshark shows
numbers *relative* to it (the SYN is 0, the first data byte is 1). The SYN and
the FIN each take one sequence number and carry no data.
"""),
("code", r"""
print(f"SYN:     raw seq {h['syn_seq_raw']:>10}  (relative {h['syn_seq']}), frame {h['syn_frame']}")
print(f"SYN-ACK: raw seq {h['synack_seq_raw']:>10}, ack {h['synack_ack_raw']} (relative {h['synack_ack']})")
print(f"the handshake took {h['handshake_rtt'] * 1000:.2f} ms (SYN -> SYN-ACK, as seen by the sender)")
"""),
("md", r"""
**RTT samples and EstimatedRTT.** **Predict:** the router adds 40 ms to every
round trip. What will the first RTT samples be? Will they grow later?

A segment's *SampleRTT* is the time from sending it to the first ACK that
covers its last byte; *EstimatedRTT* = 0.875 × EstimatedRTT + 0.125 ×
SampleRTT (the textbook's exponential average; RFC 6298 calls it SRTT).
`ack_rtt` is what Wireshark shows on that ACK (`tcp.analysis.ack_rtt`): it
measures from the *newest* segment the ACK covers.
"""),
("code", r"""
rows = mic.first_segments(bulk, 6)
nb.show(nb.table([{"seq": r["seq"], "bytes": r["length"], "sent": f"{r['sent'] * 1000:.1f}",
                   "ACKed": f"{r['acked'] * 1000:.1f}", "SampleRTT": f"{r['sample_rtt'] * 1000:.2f}",
                   "EstimatedRTT": f"{r['estimated_rtt'] * 1000:.2f}", "ack_rtt": f"{r['ack_rtt'] * 1000:.2f}"}
                  for r in rows], "the first six data segments (ms since the SYN; RTTs in ms)"))
nb.check(mic.rtt_floor_claims(bulk), source=bulk.source)
"""),
("md", r"""
The first segment is alice's name; then each line of the book leaves as its
own small segment (the chat client sets `TCP_NODELAY`, and the congestion
window still has room), until the window fills and the kernel packs the
waiting lines into full segments. When **one ACK covers several segments**,
the receiver was delaying its ACK (Linux acknowledges at least every second
full segment, or after a short timer): the older segments' SampleRTT is then a
little longer than tshark's `ack_rtt`, which times the newest one. Both
columns agree where the ACK covers one segment.

No sample is shorter than 40 ms: the router holds every packet 20 ms each way.
Later samples are *longer*: the segments wait in the router's queue behind
each other (below). A few are much longer still: an ACK that jumps forward
when a retransmission has filled a hole covers segments sent well before,
and tshark times it from the newest of them, so that sample includes the
repair. (Exercise 10's stricter reading of Karn's rule leaves those out
too: the bytes it acknowledges include re-sent ones.)

**Segment lengths, the receive window, retransmissions, ACKs, throughput:**
"""),
("code", r"""
lengths = [a.segment.length for a in bulk.data()]
windows = mic.receive_windows(bulk)
in_flight = [a.tcp.bytes_in_flight for a in bulk.data() if a.tcp.bytes_in_flight]
print(f"data segments: {len(lengths)}; {lengths.count(max(lengths))} of {max(lengths)} bytes, "
      f"{sum(1 for x in lengths if x < max(lengths))} shorter (the first lines, the last one, the resends)")
print(f"receive window advertised by the server: smallest {min(windows):,} bytes, largest {max(windows):,}")
print(f"bytes in flight (tshark): at most {max(in_flight):,}")
causes = [a.retransmission.cause for a in bulk.data() if a.retransmission]
print(f"retransmitted segments: {len(mic.resent_segments(bulk))} (why, as the annotator tells it: "
      f"{', '.join(f'{c} {causes.count(c)}' for c in sorted(set(causes)))}); the server sent "
      f"{len(bulk.acks())} ACKs for {len(lengths)} data segments")
print(f"goodput: {mic.goodput(bulk) / 1e6:.2f} Mbit/s of new data (the link: 2 Mbit/s)")
nb.check(mic.segment_claims(bulk), mic.retransmission_claims(bulk), source=bulk.source)
"""),
("md", r"""
* The full segments carry **1,448** bytes, not 1,460: each segment also
  carries the 12-byte timestamps option (10 bytes and 2 of padding), inside
  the MSS.
* The smallest advertised window is far above the bytes in flight: the
  receiver's buffer never throttled this sender. What limited it was the
  **congestion window**, the sender's own estimate of what the network
  holds. (Section 6 stops the receiver to see the other case.)
* Every retransmission the capture shows, the sender's kernel counted too
  (`TCP_INFO`'s `total_retrans`): the capture is on the sender, so it sees
  every copy that left. Most are *fast retransmits*: a SACK block (RFC 2018)
  told the sender which segment was missing, and it resent it without
  waiting for its timer. Linux does not wait for the textbook's three
  duplicate ACKs: with RACK-TLP (RFC 8985) one SACK showing that a segment
  sent later has arrived is enough.
* The goodput is below the 2 Mbit/s of the link: headers take 5 %, the
  first round trips of slow start leave the link idle, and the resent bytes
  are not new data.

## 3. The time-sequence graph: slow start, and where it ends

**Predict:** how does the amount of data sent per round trip change during
the first round trips? What happens when the router's queue (16 KB) is full?
"""),
("code", r"""
fig = mic.figure(bulk)
plt.show()
plt.close(fig)
print(f"first retransmission (the end of slow start): {mic.slow_start_end(bulk):.3f} s after the SYN")
changes, previous = [], None
for s in mic.kernel(bulk):
    if s["ca_state"] != previous:
        ssthresh = "infinite" if s["snd_ssthresh"] >= 2**31 - 1 else s["snd_ssthresh"]
        changes.append({"t (s)": f"{s['t']:.3f}", "state": s["ca_state"], "cwnd": s["snd_cwnd"],
                        "ssthresh": ssthresh, "srtt (ms)": f"{s['rtt_ms']:.1f}"})
        previous = s["ca_state"]
nb.show(nb.table(changes, f"the sender's kernel ({bulk.settings['congestion_control']}): each change of state"))
nb.check(mic.slow_start_claims(bulk), source=bulk.source)
"""),
("md", r"""
Top: each blue bar is a segment (its height: the bytes it carries), red
bars are copies sent again, purple ranges are what the receiver reported
holding beyond a gap (SACK); the black step line is what the server had
acknowledged, and the green line above it is that plus the receive window:
the sender may never go above it. Middle: the kernel's **congestion window**
and ssthresh (TCP_INFO, in segments). Bottom: the RTT samples, with the
kernel's SRTT and RTO. One time axis for all three.

* **Slow start** (RFC 5681): the sender starts with 10 segments (RFC 6928)
  and adds one segment to the window for every segment acknowledged, so the
  window **doubles every round trip**: the blue bars come in bursts that grow.
* Then the router's queue fills: the link sends 2 Mbit/s, the sender more.
  Queued segments wait, so the RTT samples grow (the graph's slope stops
  rising), then the queue overflows and packets are dropped: the red bars
  are the retransmissions. That first loss **ends slow start**: the kernel
  leaves the state *Open* (the table: *Disorder* when the first SACK shows
  a hole, *Recovery* once it resends), sets **ssthresh** to 70 % of its
  window (CUBIC's rule; the textbook, RFC 5681, halves it) and lets the
  window come down to it as ACKs return (proportional rate reduction, RFC
  6937). From then on the window grows slowly: by about one segment per
  round trip in the textbook's *congestion avoidance*, along a cubic curve
  in CUBIC. The sender uses CUBIC, Linux's default on most systems (this
  notebook sets it on its socket, `TCP_CONGESTION`, because some machines
  default to BBR, which reacts to loss differently).
* The 1 % random loss adds a few more losses; each one is repaired within
  about one round trip.

## 4. The retransmission timer, computed and measured

RFC 6298 turns the RTT samples into SRTT (the average), RTTVAR (the mean
deviation) and **RTO = SRTT + 4 × RTTVAR**, at least 1 s, never using a sample
from a retransmitted segment (**Karn's rule**). Linux differs on purpose: its
floor is **200 ms** and it adds it to SRTT (RTO ≈ SRTT + max(200 ms, 4 ×
RTTVAR)), and with timestamps it can take samples even from retransmitted
segments, because the ACK echoes the time of the copy it acknowledges.

**Predict:** with a 40-100 ms round trip, which is larger, RFC 6298's RTO or
the kernel's?
"""),
("code", r"""
samples = mic.rtt_samples(bulk)
rfc = mic.rfc6298(samples, min_rto=1.0)[-1]
linux_floor = mic.rfc6298(samples, min_rto=0.2)[-1]
last = mic.kernel(bulk)[-1]
nb.show(nb.table([
    {"estimate": "RFC 6298 from the capture (1 s floor)", "SRTT (ms)": f"{rfc['srtt'] * 1000:.1f}",
     "RTTVAR (ms)": f"{rfc['rttvar'] * 1000:.1f}", "RTO (ms)": f"{rfc['rto'] * 1000:.0f}"},
    {"estimate": "the same with Linux's 200 ms floor", "SRTT (ms)": f"{linux_floor['srtt'] * 1000:.1f}",
     "RTTVAR (ms)": f"{linux_floor['rttvar'] * 1000:.1f}", "RTO (ms)": f"{linux_floor['rto'] * 1000:.0f}"},
    {"estimate": "the sender's kernel at the end (TCP_INFO)", "SRTT (ms)": f"{last['rtt_ms']:.1f}",
     "RTTVAR (ms)": f"{last['rttvar_ms']:.1f}", "RTO (ms)": f"{last['rto_ms']:.0f}"}],
    f"{len(samples)} RTT samples (tshark's ack_rtt, Karn's rule applied)"))
nb.check(mic.rto_claims(bulk), source=bulk.source)
"""),
("md", r"""
The numbers differ, and each for a reason:

* the RFC's RTO is at least **1 s**; the kernel's is SRTT + at least 200 ms;
* the kernel samples far more often than the capture allows us to: it
  measures every ACK with its timestamps (RFC 7323), retransmitted segments
  included, while we follow Karn's rule and take one sample per ACK of new
  data;
* the kernel's RTTVAR is not RFC 6298's: Linux keeps the largest mean
  deviation seen over the last round trip (`mdev_max`), so it falls slowly.

The bottom panel of the figure above shows both over time. They follow
the queueing delay: the samples rise from 40 ms to about 100 ms
as the queue fills (16 KB at 2 Mbit/s is 65 ms of waiting), and SRTT with
them. That is *bufferbloat* in miniature: a full queue adds its length to
every round trip.

## 5. What a timeout does to the congestion window

Now the router drops **every** packet for 1.2 s, once the server has
acknowledged the first 20 KB: no ACK comes back, so neither SACK nor RACK can help; only the
**retransmission timer** can.

**Predict:** how often will the sender try again during the 1.2 s? What will
its congestion window be afterwards?
"""),
("code", r"""
timeout = mic.bulk_run(lesson, "08-timeout")
fig = mic.figure(timeout)
plt.show()
plt.close(fig)
for s in mic.kernel(timeout):
    if s["backoff"]:
        print(f"{s['t']:.3f} s: state {s['ca_state']}, cwnd {s['snd_cwnd']}, rto {s['rto_ms']:g} ms, "
              f"backoff {s['backoff']}")
        break
nb.check(mic.timeout_claims(timeout), source=timeout.source)
"""),
("md", r"""
When the timer expires the sender resends the oldest unacknowledged segment,
**doubles its RTO** (RFC 6298, 5.5: if that copy is lost too, it waits twice as
long), and collapses its congestion window to **one segment** (the state
*Loss*; RFC 5681, 3.1): after a timeout TCP assumes the network is badly
congested and starts again from one segment, with ssthresh set below the
window it had. On the graph: the red retransmissions during the blackout,
spaced by a growing gap (the RTO line in the bottom panel climbs in
steps).

Look at the moment the router forwards again: **nothing happens**. The
sender cannot know that the link is back; it waits for its backed-off timer,
and only when that expires does a retransmission get through and the
transfer resume. This is why a second of bad network can cost a chat on TCP
several seconds (lesson 6).

The first ACK after that acknowledges far more than the one resent segment:
the segments already on their way when the link went dark had reached the
server; only its ACKs were lost. The ACK says so with a **D-SACK** (RFC
2883: a SACK block reporting data received twice), so the kernel knows the
timeout was (partly) spurious and undoes its window reduction: the spike of
cwnd in the middle panel (undoing a reduction that proved unnecessary is what
RFC 4015 describes; the annotator marks that retransmission spurious).

## 6. Flow control: a receiver that does not read

Last run: the chat server's process is **stopped** (SIGSTOP) for 3 s just as
the paste begins, as a busy application would be. Its kernel keeps receiving
into its buffer, but nobody empties it.

**Predict:** what will the server's TCP advertise? What does the sender do
while it waits, and does it give up?
"""),
("code", r"""
pause = mic.bulk_run(lesson, "08-pause")
fig = mic.figure(pause)
plt.show()
plt.close(fig)
probes = mic.window_probes(pause)
print("probes of the closed window:", ", ".join(f"frame {a.segment.number} at {a.segment.time - pause.t0:.2f} s"
                                                 f" ({', '.join(a.analysis) or 'no tshark label'})" for a in probes))
print("\n".join(pause.paste))
nb.check(mic.flow_control_claims(pause), source=pause.source)
"""),
("md", r"""
The green line (acknowledged + window) comes down to the black one: the
receive window shrinks as the buffer fills, and the server's TCP advertises
a **zero window**. The sender stops sending data (flow control: the sender
may never have more unacknowledged data than the receiver's window), and
starts its *persist timer*: when it expires it **probes** the window, and
the timer doubles each time the answer is still "zero" (RFC 9293, 3.8.6.1).
A probe is not a retransmission and does not count as one.

RFC 9293 describes a probe that carries one byte of new data (what tshark
calls a "zero window probe"). Linux probes differently: a segment with **no
data and an old sequence number** (one below what the receiver has
acknowledged), which the receiver must answer with an ACK that carries its
current window; tshark labels such a segment a *keep-alive*. When the server
runs again, its TCP sends **window updates** and the transfer goes on where
it stopped: nothing was lost, and the application never saw any of it.

This is also what the chat server's **flood limit** does to a member who
sends too fast (`lab/chat/ratelimit.py`): it stops reading that member's
socket for a while, and TCP's flow control throttles the sender. Try it with
`/paste` in `chatlab client` against a server with the default limit of 10
lines a second.

## Summary

* The MSS comes from the link's MTU; data segments carry MSS minus the TCP
  options (1,448 bytes with timestamps).
* RTT samples are at least the path's round trip, and grow when a queue
  fills. SRTT is their average; RTO adds four times their deviation; Karn's
  rule keeps retransmitted segments out. RFC 6298: RTO ≥ 1 s. Linux: SRTT +
  at least 200 ms, with timestamps on every ACK.
* Slow start doubles the window every round trip until the first loss; then
  congestion avoidance grows it slowly. A loss found by SACK costs a window
  reduction; a **timeout** costs a window of one segment and a doubled timer.
* Flow control protects the receiver: a full buffer means a zero window;
  the sender probes it until it opens.

## Exercise and further work

* [`exercises/ex10_rtt.py`](../exercises/ex10_rtt.py): RTT samples with Karn's rule, the RFC 6298
  estimator, goodput over time, on captures the kit recorded through this
  router. Test: `python -m pytest tests/graded/test_ex10_rtt.py`.
* At a terminal (root): `sudo .venv/bin/chatlab netlab up --delay 40ms --rate 2mbit --queue 32kb --loss 1 --seed 7`,
  then `sudo .venv/bin/chatlab netlab measure`, and run `chatlab server` and `chatlab client` inside the
  lab's hosts (docs/NETLAB.md); `/paste` in the client sends the book.
"""),
("code", r"""
lesson.cleanup();
"""),
]

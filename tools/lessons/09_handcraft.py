"""Lesson 9: hands on the wire with scapy -- the handshake by hand, a forged reset, a SYN flood."""

CELLS = [
("md", r"""
# Lesson 9 — Hands on the wire: the handshake by hand, a forged reset, a SYN flood

*About 45 minutes. Live as root; without root the notebook shows the packets it
recorded.*

Until now the kernel made every packet: `connect()` sent the SYN, `send()` the
data, `close()` the FIN. Today **we** make them, with
[scapy](https://scapy.net), one header field at a time, and the kit's real chat
server answers. You will:

1. open a TCP connection **by hand** (SYN, SYN-ACK, ACK), join the chat,
   chat a line that a real `chatlab client` displays, and close with a FIN;
2. **forge a reset** that throws a member out of the chat, and see why two
   almost-right resets do nothing;
3. **flood** a server with SYNs and watch SYN cookies save the honest clients.

**Safety rules.** Everything happens inside the kit's *emulated network*
(lab/net/netlab.py): a router and hosts that are Linux network namespaces on
this machine, with addresses 10.77.x.x that exist nowhere else. Every packet
goes from one namespace to another; nothing leaves the machine. Forging
resets or flooding a host that is not yours is an attack: never aim these
tools outside a lab you built. The notebook removes the namespaces (and
everything in them: rules, sysctls, processes) at its last cell, and if the
kernel dies first, the next lesson removes them.

Exercise: [`exercises/ex11_handcraft.py`](../exercises/ex11_handcraft.py). See
[docs/EXERCISES.md](../docs/EXERCISES.md).
"""),
("code", r"""
from lab import notebook as nb
from lab.notebook import handcraft as hc
from lab.craft.guard import guard_ruleset

lesson = nb.Lesson("9: hands on the wire")
craft = nb.CraftLab(lesson)
server, bob = craft.room()
SERVER = craft.address("server")
cap = lesson.capture(5050, "09-handshake", live=craft.live, iface="eth0", netns=craft.netns("server"))
print(f"the chat server listens on {SERVER}:5050; bob (a real chatlab client) is in the room")
"""),
("md", r"""
## 1. The handshake by hand

We are the host `client1` (10.77.1.2). A connection is a promise both sides
keep in numbers (RFC 9293, 3.4): each side picks an *initial sequence number*
(ISN), and every byte it sends has the next number. The SYN and the FIN each
*consume one number*, like one byte. The ACK field says "I have everything
before this number".

Our first segment, in scapy:

```python
IP(src="10.77.1.2", dst="10.77.0.2") / TCP(sport=61001, dport=5050, flags="S", seq=ISN)
```

**Predict:** the server answers with a SYN-ACK. But our host's *kernel* did
not send the SYN — scapy did, through a raw socket — so the kernel has no
socket on port 61001. What does the kernel do with a SYN-ACK for a connection
it does not know?
"""),
("code", r"""
attempt = craft.hand_join("no-guard", guard=False, port=61001)
hc.show_steps(attempt, "the handshake by hand, kernel not kept out")
cap.show_new("the same packets, captured on the server's interface")
nb.check(hc.no_guard_claims(attempt), source=cap)
"""),
("md", r"""
Our own kernel answered the SYN-ACK with an **RST**. For a segment that
arrives at a port where nothing is, RFC 9293 (3.10.7.1) says: send a reset.
The server threw the half-open connection away, and our ACK, arriving after
the RST, belongs to no connection: the server answers it with an RST too.

So the kit keeps our kernel out, in `client1`'s namespace only, with one
nftables rule in the *input* hook: drop the server's segments for our port.
scapy still sees them, because a packet socket gets its copy as the packet
comes off the wire, before the IP layer and its firewall hooks; the kernel's
TCP never does, so it has nothing to answer. (Dropping our outgoing RSTs
instead, the classic recipe, would also drop the resets we forge later.)
"""),
("code", r"""
print(guard_ruleset((SERVER, 5050), "61000"))
"""),
("md", r"""
**Predict:** with the rule in place, we send SYN, then ACK = server's ISN + 1,
then our name line `mallory`, acknowledge every line the server sends, send
one chat line, and a FIN. Which `seq` will our name line carry? Which `ack`
will the server's ACK of it carry?
"""),
("code", r"""
joined = craft.hand_join("join", name="mallory", line="hello from scapy", port=61000)
hc.show_steps(joined, "the connection by hand, kernel kept out")
print(f"the guard rule kept {joined['guard_dropped']} segments from our kernel")
hc.show_log(joined)
cap.show_new("the connection by hand, captured on the server's interface");
"""),
("md", r"""
Our name went out at **ISN+1** (the SYN consumed one number) with the ACK of
the hello line (the server's ISN + 1 + 61 bytes). The server acknowledged our
9 bytes with ack = ISN+10. Bob, in another host, saw our line: the server
cannot tell our packets from a kernel's, and its lifecycle log shows an
ordinary connection: accepted, joined, closed by a FIN. Check it on the wire:
"""),
("code", r"""
cap.ladder(hc.stream_of(cap, 61000))
nb.check(hc.join_claims(cap, joined, 61000), source=cap)
"""),
("md", r"""
## 2. Two classic mistakes, and what the server says

**Predict:** (a) we acknowledge the SYN-ACK with ack = the server's ISN (we
forgot that its SYN counts as one); (b) we send our name at seq = ISN instead
of ISN + 1 (we forgot that our own SYN counts). What does the server do with
each?
"""),
("code", r"""
wrong_ack = craft.hand_join("ack-isn", ack_offset=-1, port=61002)
hc.show_steps(wrong_ack, "(a) ACK = the server's ISN")
wrong_seq = craft.hand_join("seq-isn", seq_offset=-1, port=61003)
hc.show_steps(wrong_seq, "(b) data at seq = ISN")
cap.show_new("both mistakes on the wire")
nb.check(hc.mistake_claims(wrong_ack, wrong_seq), source=cap)
"""),
("md", r"""
(a) An ACK that does not acknowledge exactly ISN + 1 is *not acceptable* in
the handshake: the server resets (RFC 9293, 3.10.7.3, "form a reset segment
<SEQ=SEG.ACK><CTL=RST>"; Linux does just that, the RST's seq is our wrong
ack). (b) Our 9 bytes were numbered ISN to ISN+8, but the server expected
ISN+1: to it, the first byte was a repeat of a number it already had, so
Linux kept only the new part, `allory\r\n`, and acknowledged it. TCP
trusts the numbers, not the bytes.

## 3. A forged reset

A member's connection is ended by an RST only if the RST belongs to it: the
right 4-tuple and a sequence number the receiver accepts. RFC 9293 accepted
any RST *inside the receive window*. Linux follows RFC 5961 (3.2), stricter:

* seq **exactly** `RCV.NXT` (the next byte expected): the connection is reset;
* seq inside the window but not exact: a **challenge ACK** (an ACK with the
  receiver's current numbers) goes to the real peer, which did not send the
  RST and so ignores the ACK; the connection goes on;
* seq outside the window: dropped, without a word.

The attacker here sits **on the path**, in the router (as a hostile Wi-Fi
would): it captures a member's connection on the server's link, reads the
numbers off the wire, and sends three RSTs that claim to come from the
member: outside the window, in the window, exact. (The victim is a new
member, `victim`, in `client1`, watched by a `witness` in `client2`.)

**Predict:** which of the three ends the member's chat? What will the
capture show after each?
"""),
("code", r"""
cap_reset = lesson.capture(5050, "09-reset", live=craft.live, iface="eth0", netns=craft.netns("server"))
resets = craft.forged_resets("plain")
hc.show_resets(resets)
cap_reset.show_new("the victim's connection, captured on the server's interface");
"""),
("code", r"""
nb.check(hc.reset_claims(resets, cap_reset.annotated), source=cap_reset)
"""),
("md", r"""
The capture's explanation of the RST says what an RST *usually* means: the
annotator reads headers, and the headers say "from the member". That is the
whole point: **nothing in an RST proves who sent it**. Only the number does.

**Why ISNs must be unpredictable.** An attacker who cannot see the
connection must *guess* the exact number among 2^32. If ISNs were
predictable (early TCP stacks used a counter that went up by a fixed amount
each second), one connection of the attacker's own would reveal the numbers
of everyone else's. Linux picks each ISN as a clock plus a keyed hash of the
4-tuple (RFC 6528, now part of RFC 9293 3.4.1): no pattern to learn. RFC
5961 then makes a blind guess 2^32 / window harder: an in-window guess only
earns a challenge ACK.

**TLS does not help.** TLS encrypts and authenticates the bytes *inside*
TCP; the RST is a TCP header, handled by the kernel before any TLS record is
read. **Predict:** the same exact RST against a member who chats over TLS?
"""),
("code", r"""
tls_reset = craft.forged_resets("tls", tls=True, kinds=("exact",))
hc.show_resets(tls_reset)
nb.check(hc.tls_reset_claims(tls_reset), source="the server's log, this run" if craft.live else "the recording")
"""),
("md", r"""
Ended all the same. (What protects a TCP connection's *headers* is something
below TLS: IPsec, or the TCP Authentication Option of RFC 5925, which BGP
routers use precisely against forged resets.)

## 4. A SYN flood

For each SYN, a listening socket keeps a small record of the half-open
connection (a *request*) and sends a SYN-ACK; the record waits for the third
ACK, resending the SYN-ACK up to `net.ipv4.tcp_synack_retries` = 5 times
(about a minute). Linux counts these requests against the `listen()`
backlog. Our chat server here listens with **backlog 4**.

The attacker in `client2` sends 32 SYNs from 32 ports and never answers (the
guard rule keeps its own kernel from sending RSTs, which would free the
server's queue). Then an honest client in `client1` connects, twice:

* with `net.ipv4.tcp_syncookies = 0`;
* with `net.ipv4.tcp_syncookies = 1` (Linux's default: cookies when the
  queue is full).

Sysctls under `net.ipv4` belong to a *network namespace*: we set them **in the
server's namespace only**, and read its counters there with `nstat`.

(The room's server stops first: this server is a fresh one, on the same port.)

**Predict:** does the honest client get in, each time? Which counters move?
"""),
("code", r"""
cap_flood = lesson.capture(5050, "09-flood", live=craft.live, iface="eth0", netns=craft.netns("server"))
flood = craft.syn_flood("flood", backlog=4, flood=32)
hc.show_flood(flood)
"""),
("code", r"""
packets = cap_flood.new()
attacker = craft.address("client2")
print(f"the capture: {sum(a.flags == 'S' for a in packets)} SYNs, "
      f"{sum(a.flags == 'SA' and a.segment.dst == attacker for a in packets)} SYN-ACKs to the attacker "
      "(the first ones and their retransmissions)")
nb.check(hc.flood_claims(flood, packets), source=cap_flood)
"""),
("md", r"""
Without cookies the queue of 4 was full of the attacker's half-open
requests, so Linux dropped every new SYN (TcpExtTCPReqQFullDrop, and
TcpExtListenDrops counts them too): the honest `connect()` resent its SYN
after 1 s (RFC 6298's initial timeout), then gave up at our 3-second limit.
With cookies, Linux answered the honest SYN with a SYN-ACK whose ISN *is*
the state: a keyed hash of the 4-tuple and a time counter, with the MSS in
a few bits, and it kept nothing (TcpExtSyncookiesSent). The ACK came back
with ack = cookie + 1, the kernel checked it and made the connection from it
(TcpExtSyncookiesRecv): the chat server's `accept()` got it like any other.
The attacker's 32 SYNs cost the server 4 records, not 32.

## Summary

* A connection is numbers both sides keep: **SYN and FIN consume one**,
  data its length, ACK = next byte expected. Get one wrong and the server
  resets (bad ACK in the handshake) or trims (data at the wrong seq).
* Crafting packets means keeping the kernel out: it **resets** connections it
  does not know (one nftables rule in the crafting host).
* An RST is accepted only at the **exact** next sequence number (RFC 5961);
  in the window: a **challenge ACK**; outside: nothing. Unpredictable ISNs
  (RFC 6528) make it a guess for anyone who cannot see the connection; **TLS
  does not protect TCP's headers**.
* A **SYN flood** fills the SYN queue; **SYN cookies** answer without keeping
  state, and honest clients get in.

## Exercise

[`exercises/ex11_handcraft.py`](../exercises/ex11_handcraft.py): part 1 builds the next
packet of a real capture (no root); part 2 joins the chat by hand in the
emulated network (root). Test: `python -m pytest tests/graded/test_ex11_handcraft.py`.
"""),
("code", r"""
lesson.cleanup();
"""),
]

"""TCP vs UDP under loss: the same scripted chat over TCP, UDP and reliable UDP, through a lossy router.

The experiment (``chatlab compare``, or ``run_compare()`` in a notebook):

1. an emulated network (lab.net.netlab): the chat server in the "server" host,
   a *sender* in "client1" and a *receiver* in "client2", a router between
   them that drops ``loss`` % of the packets it forwards (nftables);
2. the sender joins the chat and sends ``messages`` numbered lines at a
   steady pace, first over TCP (the lab's ChatServer), then over UDP (the
   lab's UdpChatServer), on the same port number; then the same messages as
   datagrams of the kit's reliable transfer (lab/udp/reliable.py, exercise
   12's algorithm), through a plain forwarder on the server's host;
3. the receiver notes when each line arrives; a sniffer in the router writes
   every packet that reaches the router (before the loss rule) to a pcap.

Each chat message crosses the router twice (sender -> server, server ->
receiver), so with a loss of p per crossing UDP should deliver a share of
about (1 - p)^2 of the messages: 64 % at 20 % loss.  TCP should deliver
every one, in order, paying with retransmissions (counted on the wire and by
the kernel in TCP_INFO) and with latency: a message behind a lost segment
waits for its retransmission (head-of-line blocking).  Reliable UDP should
deliver every one too, repaired end to end by its Go-Back-N sender, with
more retransmissions and (every loss waits for its timer) more latency.

The loss is switched on only while the messages are sent (connections,
joins and the reliable transfer's SYN happen on a clean network), so the
rows measure the same thing.

Without root there are no namespaces: the two UDP rows then run through
lossy UDP relays on loopback, whose drops are decided by random generators
seeded with ``seed`` (two relays in a row for the reliable row, so that its
datagrams also cross two lossy hops); the TCP row is skipped (dropping TCP
segments needs the kernel's help, i.e. root).

The package, one job a module:

- :mod:`lab.experiments.compare.accounting` -- the scripted messages, what arrived of what
  was sent, expected UDP delivery, the seeded fate of each datagram on the
  loopback relay, retransmissions counted in a capture (sans-I/O)
- :mod:`lab.experiments.compare.tcp_half` -- the scripted chat over TCP (I/O)
- :mod:`lab.experiments.compare.udp_half` -- the scripted chat over UDP (I/O)
- :mod:`lab.experiments.compare.reliable_half` -- the same messages over UDP made reliable by the
  kit's reference transfer, lab/udp/reliable.py (I/O)
- :mod:`lab.experiments.compare.lossy_relay` -- the lossy UDP relay on loopback: drops,
  duplicates, reorders, delays, seeded (I/O; also exercise 12's graded path)
- :mod:`lab.experiments.compare.router_capture` -- tcpdump in the router, our count and
  Wireshark's (I/O)
- :mod:`lab.experiments.compare.experiment` -- the whole experiment: emulated network or
  loopback fallback (``run_compare``)
- :mod:`lab.experiments.compare.notebook_helpers` -- run and plot from a notebook
"""

from lab.experiments.compare.accounting import (PORT, RECEIVER, SENDER, DeliveryAccount, Fate, Impairments,
                                                PathDecision, binomial_bounds, count_retransmissions,
                                                expected_udp_delivery, message_index, message_text, percentiles)
from lab.experiments.compare.experiment import DEFAULT_INTERVAL, can_use_namespaces, run_compare
from lab.experiments.compare.lossy_relay import LossyUdpRelay
from lab.experiments.compare.notebook_helpers import plot_compare, three_rows
from lab.experiments.compare.reliable_half import RELIABLE_WINDOW, run_reliable_half
from lab.experiments.compare.router_capture import RouterCapture, tshark_analysis
from lab.experiments.compare.tcp_half import TCP_DRAIN_TIMEOUT, run_tcp_half
from lab.experiments.compare.udp_half import UDP_DRAIN_TIME, run_udp_half

__all__ = [
    "DEFAULT_INTERVAL", "PORT", "RECEIVER", "RELIABLE_WINDOW", "SENDER", "TCP_DRAIN_TIMEOUT", "UDP_DRAIN_TIME",
    "DeliveryAccount", "Fate", "Impairments", "LossyUdpRelay", "PathDecision", "RouterCapture",
    "binomial_bounds", "can_use_namespaces", "count_retransmissions", "expected_udp_delivery",
    "message_index", "message_text", "percentiles", "plot_compare", "run_compare", "run_reliable_half",
    "run_tcp_half", "run_udp_half", "three_rows",
    "tshark_analysis",
]

"""Packets made by hand with scapy: the handshake, a forged reset, a SYN flood (lesson 9, exercise 11).

Everything here runs inside the kit's own emulated network (lab.net.netlab):
every crafted packet goes from one namespace host to another, and nothing
leaves the machine.  One concept per module:

- :mod:`lab.craft.tcb`        sans-I/O: the client side of a connection kept by hand
                              (ISNs, SND.NXT, RCV.NXT; what the next segment carries)
- :mod:`lab.craft.forge`      sans-I/O: the sequence numbers of a forged RST (exact,
                              in the window, outside it) and what Linux does with each
- :mod:`lab.craft.diagnose`   sans-I/O: a capture of a hand-made connection read back,
                              the first wrong number explained (the graders' messages)
- :mod:`lab.craft.counters`   sans-I/O: nstat's counters, read and compared
- :mod:`lab.craft.guard`      the nftables rule that keeps the crafting host's kernel
                              from answering the SYN-ACK with an RST
- :mod:`lab.craft.endpoint`   scapy I/O: build a segment, send it from a host, capture the answers
- :mod:`lab.craft.members`    the real chat around it: the server and a `chatlab client`
- :mod:`lab.craft.handshake`  the experiment: join the chat with hand-made segments
- :mod:`lab.craft.reset`      the experiment: three forged RSTs against a member
- :mod:`lab.craft.flood`      the experiment: a SYN flood, with and without SYN cookies

Only the standard library is imported by the sans-I/O modules; scapy is
imported when a packet is built.
"""

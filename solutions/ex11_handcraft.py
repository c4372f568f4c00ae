"""Exercise 11: TCP by hand with scapy -- the next packet, then a whole connection.

What you learn
--------------
``connect()``, ``send()`` and ``close()`` hide a bookkeeping job the kernel
does for every connection.  Each side keeps, among other things:

- ``SND.NXT``, the sequence number of the next byte it will send;
- ``RCV.NXT``, the next byte it expects from the other side: the number it
  writes in the ACK field of every segment ("I have everything before
  this", RFC 9293 section 3.4).

Three rules make the numbers move:

1. a segment's data moves the sender's number on by its length;
2. a SYN and a FIN each *consume one sequence number*, as if they were one
   byte: after a SYN with ISN ``x`` the first data byte is ``x + 1``;
3. all of it is modulo 2**32: the numbers wrap around.

Build packets with scapy and you must keep these numbers yourself.  Get
one wrong and the other side tells you: a wrong ACK in the handshake is
answered with an RST; data at the wrong sequence number is dropped or
trimmed; a FIN acknowledged without its +1 is sent again and again.

Part 1 (no root needed): the capture of a real connection is given (read
with scapy's ``rdpcap``); build the next packet a correct peer sends.  The
tests compare your packet, field by field, with the one Linux really sent.

Part 2 (root, in the kit's emulated network): ``handshake_by_hand`` joins
the chat with your own packets from the host "client1" -- SYN, ACK, your
name, acknowledging the server's lines, one chat line a real
``chatlab client`` in the room displays, and a FIN.  The kit keeps your
host's kernel out of the way (an nftables rule, see docs/EXERCISES.md:
the kernel does not know your connection and would answer the SYN-ACK with
an RST).  Try it by hand::

    sudo .venv/bin/chatlab netlab up --clients 2
    sudo .venv/bin/chatlab netlab exec server -- .venv/bin/chatlab server &
    sudo .venv/bin/chatlab netlab exec client2 -- .venv/bin/chatlab client 10.77.0.2 --name bob   # another terminal
    sudo .venv/bin/chatlab netlab exec client1 -- .venv/bin/python -m exercises.ex11_handcraft live 10.77.0.2

(the last command runs in "client1", adds the nftables rule there for you
and removes it afterwards), then ``sudo .venv/bin/chatlab netlab down``.

A packet in this exercise is a scapy ``IP() / TCP() [/ Raw()]``; read its
fields with ``pkt[IP].src``, ``pkt[TCP].seq``, ``pkt[TCP].flags``...; an
endpoint is an ``(ip, port)`` tuple.

What to write
-------------
``sequence_state``, ``ack_of_synack``, ``next_segment``, ``forged_reset``
(part 1) and ``handshake_by_hand`` (part 2).  ``payload_length``,
``after``, ``next_data``, ``acknowledge``, ``next_fin``, ``wait_for`` and
``main`` are given.
"""

from __future__ import annotations

import sys
import time

MOD = 2**32


class HandshakeError(Exception):
    """The connection by hand could not go on (no answer, or an RST): say which step and why."""


# -- given helpers -------------------------------------------------------------------------

def payload_length(pkt) -> int:
    """Bytes of TCP data in PKT, from the headers (Ethernet padding is not data).

    Works on a packet you built too: its lengths are filled in (``None``)
    only when scapy turns it into bytes, so it is rebuilt from those.
    """
    from scapy.layers.inet import IP, TCP

    ip = pkt[IP]
    if ip.len is None or ip.ihl is None or ip[TCP].dataofs is None:
        ip = IP(bytes(ip))
    return ip.len - ip.ihl * 4 - ip[TCP].dataofs * 4


def after(a: int, b: int) -> bool:
    """True if sequence number A comes after B (modulo 2**32, RFC 9293 3.4)."""
    return a != b and (a - b) % MOD < 2**31


def endpoints(pkt) -> tuple[tuple[str, int], tuple[str, int]]:
    """(source, destination) of PKT, each an (ip, port) tuple."""
    from scapy.layers.inet import IP, TCP

    return (pkt[IP].src, pkt[TCP].sport), (pkt[IP].dst, pkt[TCP].dport)


# -- part 1: the next packet ----------------------------------------------------------------

def sequence_state(packets, me: tuple[str, int]) -> tuple[int, int]:
    """(SND.NXT, RCV.NXT) of endpoint ME after PACKETS (one connection, in capture order).

    - SND.NXT: for each packet ME sent, where it ends: its seq, plus its data
      length (``payload_length``), plus one for a SYN, plus one for a FIN;
      keep the one furthest ahead (``after``), modulo 2**32;
    - RCV.NXT: the same, over the packets ME received (sent to ME).

    A packet's flags: ``"S" in pkt[TCP].flags`` (scapy's letters S A F R P).
    Return 0 for a direction with no packet yet.
    """
    ### BEGIN SOLUTION
    from scapy.layers.inet import TCP

    snd_nxt = rcv_nxt = None
    for pkt in packets:
        flags = pkt[TCP].flags
        end = (pkt[TCP].seq + payload_length(pkt) + ("S" in flags) + ("F" in flags)) % MOD
        source, _ = endpoints(pkt)
        if source == me:
            if snd_nxt is None or after(end, snd_nxt):
                snd_nxt = end
        elif rcv_nxt is None or after(end, rcv_nxt):
            rcv_nxt = end
    return snd_nxt or 0, rcv_nxt or 0
    ### END SOLUTION


def ack_of_synack(synack):
    """The third packet of the handshake, answering the SYN-ACK SYNACK.

    From the SYN-ACK's destination to its source (addresses and ports
    swapped), flags ``"A"``, seq = the SYN-ACK's ack (the server already
    says which number it expects), ack = the SYN-ACK's seq + 1 (the
    server's SYN counts as one).  ``IP(src=..., dst=...) / TCP(sport=...,
    dport=..., flags="A", seq=..., ack=...)``.
    """
    ### BEGIN SOLUTION
    from scapy.layers.inet import IP, TCP

    (server, sport), (client, cport) = endpoints(synack)
    return IP(src=client, dst=server) / TCP(sport=cport, dport=sport, flags="A", seq=synack[TCP].ack,
                                            ack=(synack[TCP].seq + 1) % MOD)
    ### END SOLUTION


def next_segment(packets, me: tuple[str, int], flags: str, data: bytes = b""):
    """The next segment ME sends on the connection of PACKETS: FLAGS, and DATA if any.

    To the other endpoint of the connection (the one that is not ME), with
    seq = ME's SND.NXT and ack = ME's RCV.NXT (``sequence_state``), and
    ``/ Raw(data)`` when DATA is not empty (``from scapy.packet import Raw``).
    """
    ### BEGIN SOLUTION
    from scapy.layers.inet import IP, TCP
    from scapy.packet import Raw

    peer = next(dst if src == me else src for src, dst in map(endpoints, packets))
    snd_nxt, rcv_nxt = sequence_state(packets, me)
    pkt = IP(src=me[0], dst=peer[0]) / TCP(sport=me[1], dport=peer[1], flags=flags, seq=snd_nxt, ack=rcv_nxt)
    return pkt / Raw(data) if data else pkt
    ### END SOLUTION


def next_data(packets, me, data: bytes):
    """A data segment from ME carrying DATA (flags "PA")."""
    return next_segment(packets, me, "PA", data)


def acknowledge(packets, me):
    """A bare ACK from ME of everything received (flags "A")."""
    return next_segment(packets, me, "A")


def next_fin(packets, me):
    """ME's FIN: nothing more to send (flags "FA")."""
    return next_segment(packets, me, "FA")


def forged_reset(packets, victim: tuple[str, int]):
    """An RST that ends VICTIM's connection, as an attacker who saw PACKETS would forge it.

    It pretends to come from VICTIM and goes to the other endpoint, flags
    ``"R"``.  Linux (RFC 5961) accepts a reset only if its seq is *exactly*
    the receiver's RCV.NXT, which is VICTIM's SND.NXT: the number VICTIM
    would use next.  (A seq merely inside the window gets a "challenge
    ACK"; outside the window, nothing.)
    """
    ### BEGIN SOLUTION
    from scapy.layers.inet import IP, TCP

    peer = next(dst if src == victim else src for src, dst in map(endpoints, packets))
    snd_nxt, _ = sequence_state(packets, victim)
    return IP(src=victim[0], dst=peer[0]) / TCP(sport=victim[1], dport=peer[1], flags="R", seq=snd_nxt)
    ### END SOLUTION


# -- part 2: a whole connection, live ---------------------------------------------------------

def wait_for(sock, me, server, test, timeout: float):
    """The next packet from SERVER to ME on SOCK for which TEST(pkt) is true, or None after TIMEOUT s.

    SOCK is one scapy socket opened before the first packet was sent
    (scapy's ``sr1()`` and ``sniff()`` open a new socket at each call, so a
    packet arriving between two calls would be missed).  Packets that do not
    pass TEST are skipped.
    """
    import select

    from scapy.layers.inet import IP, TCP

    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        pkt = sock.recv()
        if pkt is None or IP not in pkt or TCP not in pkt:
            continue
        if endpoints(pkt) == (tuple(server), tuple(me)) and test(pkt):
            return pkt
    return None


def handshake_by_hand(sock, me: tuple[str, int], server: tuple[str, int], name: str, line: str, isn: int,
                      timeout: float = 3.0) -> list:
    """Join the chat at SERVER from ME with hand-made packets; return every packet sent and received.

    With ``sock.send(pkt)`` to send and ``wait_for`` to receive (every wait
    at most TIMEOUT seconds), keep a list of every packet of the connection
    (both directions) and build each one you send from it, with part 1:

    1. the SYN: ``IP(src=me[0], dst=server[0]) / TCP(sport=me[1],
       dport=server[1], flags="S", seq=isn)``; wait for the SYN-ACK (raise
       HandshakeError if none comes, or an RST) and send ``ack_of_synack``;
    2. wait for the server's data until its text holds ``b"--- hello:"``,
       acknowledging each data segment (``acknowledge``);
    3. send your name line, ``name.encode() + b"\\r\\n"`` (``next_data``);
       wait for data until the text holds ``b"--- welcome:"`` (the hello line
       says "welcome" too), acknowledging each;
    4. send the chat line the same way; wait for the server's ACK of it
       (an ACK whose ack is your SND.NXT);
    5. send your FIN (``next_fin``); wait for the server's FIN (acknowledge
       any data before it) and acknowledge the FIN.

    Raise HandshakeError with the step when an expected packet does not come.
    """
    ### BEGIN SOLUTION
    from scapy.layers.inet import IP, TCP

    seen: list = []

    def send(pkt) -> None:
        sock.send(pkt)
        seen.append(pkt)

    def text() -> bytes:
        return b"".join(bytes(p[TCP].payload)[:payload_length(p)] for p in seen
                        if endpoints(p)[0] == tuple(server))

    def receive_until(done, step: str) -> None:
        while not done():
            pkt = wait_for(sock, me, server, lambda p: True, timeout)
            if pkt is None:
                raise HandshakeError(f"{step}: nothing arrived within {timeout:g} s")
            if "R" in pkt[TCP].flags:
                raise HandshakeError(f"{step}: the server answered with RST")
            seen.append(pkt)
            if payload_length(pkt) or "F" in pkt[TCP].flags:
                send(acknowledge(seen, me))

    send(IP(src=me[0], dst=server[0]) / TCP(sport=me[1], dport=server[1], flags="S", seq=isn))
    synack = wait_for(sock, me, server, lambda p: "S" in p[TCP].flags or "R" in p[TCP].flags, timeout)
    if synack is None or "R" in synack[TCP].flags:
        raise HandshakeError("SYN: " + ("the server answered with RST" if synack is not None else
                                        f"no SYN-ACK within {timeout:g} s"))
    seen.append(synack)
    send(ack_of_synack(synack))
    receive_until(lambda: b"--- hello:" in text(), "waiting for the hello line")
    send(next_data(seen, me, name.encode() + b"\r\n"))
    receive_until(lambda: b"--- welcome:" in text(), "waiting for the welcome line")
    send(next_data(seen, me, line.encode() + b"\r\n"))
    mine = sequence_state(seen, me)[0]
    receive_until(lambda: any(endpoints(p)[0] == tuple(server) and p[TCP].ack == mine for p in seen),
                  "waiting for the ACK of the chat line")
    send(next_fin(seen, me))
    receive_until(lambda: any(endpoints(p)[0] == tuple(server) and "F" in p[TCP].flags for p in seen),
                  "waiting for the server's FIN")
    return seen
    ### END SOLUTION


# -- trying it by hand -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m exercises.ex11_handcraft live SERVER [--port 5050] [--local-port 61000] --name N --line L``.

    Run inside a host of the emulated network, as root.  With ``--guard``
    (the default) it adds the nftables rule that keeps this host's kernel
    out of the connection, and removes it at the end.
    """
    import argparse
    import secrets
    import subprocess

    parser = argparse.ArgumentParser(prog="python -m exercises.ex11_handcraft")
    parser.add_argument("mode", choices=["live"])
    parser.add_argument("server")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--local-port", type=int, default=61000)
    parser.add_argument("--name", default="mallory")
    parser.add_argument("--line", default="hello from scapy")
    parser.add_argument("--no-guard", dest="guard", action="store_false",
                        help="do not add the nftables rule (the kit's graders add it themselves)")
    args = parser.parse_args(argv)
    from scapy.all import conf  # all of scapy: its routing table and its sockets

    conf.verb = 0
    src = conf.route.route(args.server)[1]
    if src == "0.0.0.0":
        print(f"no route to {args.server}: run this inside a host of the emulated network "
              "(chatlab netlab exec client1 -- ...)", file=sys.stderr)
        return 1
    from lab.craft.guard import TABLE, guard_ruleset

    if args.guard:
        subprocess.run(["nft", "-f", "-"], input=guard_ruleset((args.server, args.port), str(args.local_port)),
                       text=True, check=True, timeout=20)
    sock = conf.L3socket()
    try:
        packets = handshake_by_hand(sock, (src, args.local_port), (args.server, args.port), args.name, args.line,
                                    secrets.randbits(32))
    except HandshakeError as error:
        print(f"the connection by hand stopped: {error}", file=sys.stderr)
        return 1
    finally:
        sock.close()
        if args.guard:
            subprocess.run(["nft", "delete", "table", "inet", TABLE], timeout=20, check=False)
    print(f"done: {len(packets)} packets sent and received; the room saw your line")
    return 0


if __name__ == "__main__":
    sys.exit(main())

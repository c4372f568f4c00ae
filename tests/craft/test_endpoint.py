"""lab.craft.endpoint: the packets scapy builds carry exactly the numbers asked for (the live use: test_handshake)."""

from __future__ import annotations

from lab.capture.decode import LINKTYPE_RAW, decode, flag_letters
from lab.craft.endpoint import build_packet, scapy_expression
from lab.craft.tcb import Outgoing, scapy_letters


def test_build_packet_puts_every_field_on_the_wire():
    out = Outgoing("PA", seq=2**32 - 3, ack=77, payload=b"mallory\r\n")
    packet = build_packet(("10.77.1.2", 61000), ("10.77.0.2", 5050), out)
    seg = decode(1, 0, LINKTYPE_RAW, bytes(packet))
    assert (seg.src, seg.sport, seg.dst, seg.dport) == ("10.77.1.2", 61000, "10.77.0.2", 5050)
    assert (scapy_letters(flag_letters(seg.flags)), seg.seq, seg.ack, seg.payload) == ("PA", 2**32 - 3, 77, b"mallory\r\n")
    assert seg.window == 65535


def test_checksums_are_right():
    from scapy.layers.inet import IP

    raw = bytes(build_packet(("10.77.1.2", 61000), ("10.77.0.2", 5050), Outgoing("S", 1)))
    again = IP(raw)
    del again.chksum
    del again.payload.chksum
    assert bytes(IP(bytes(again))) == raw  # recomputed checksums equal the ones sent


def test_scapy_expression_reads_as_scapy():
    text = scapy_expression(("10.77.1.2", 61000), ("10.77.0.2", 5050), Outgoing("S", 5))
    assert text == 'IP(src="10.77.1.2", dst="10.77.0.2") / TCP(sport=61000, dport=5050, flags="S", seq=5, ack=0)'

"""ex11 that forges its RST with the victim's *ack* (its RCV.NXT) instead of its next sequence number.

The receiver checks an RST's sequence number against what it expects from
the sender (RFC 5961 3.2): the victim's SND.NXT.  The victim's ack number
counts the other direction's bytes, so the RST lands somewhere else in
sequence space (Linux ignores it, or at best sends a challenge ACK).
"""

EXERCISE = "ex11_handcraft"
MUST_FAIL = ["test_forged_reset"]


def apply(module) -> None:
    def forged_reset(packets, victim):
        from scapy.layers.inet import IP, TCP

        peer = next(dst if src == victim else src for src, dst in map(module.endpoints, packets))
        _, rcv_nxt = module.sequence_state(packets, victim)
        return IP(src=victim[0], dst=peer[0]) / TCP(sport=victim[1], dport=peer[1], flags="R", seq=rcv_nxt)

    module.forged_reset = forged_reset

"""ex11 whose sequence_state forgets that a SYN consumes one sequence number.

Right after the handshake the next byte is ISN + 1, not ISN: data sent at
the ISN starts one number too early (Linux then trims its first byte as a
repeat: the server reads "allory" for "mallory").
"""

EXERCISE = "ex11_handcraft"
MUST_FAIL = ["test_sequence_state", "test_data_right_after_the_syn_ack"]


def apply(module) -> None:
    def sequence_state(packets, me):
        from scapy.layers.inet import TCP

        snd_nxt = rcv_nxt = None
        for pkt in packets:
            end = (pkt[TCP].seq + module.payload_length(pkt) + ("F" in pkt[TCP].flags)) % module.MOD
            source, _ = module.endpoints(pkt)
            if source == me:
                if snd_nxt is None or module.after(end, snd_nxt):
                    snd_nxt = end
            elif rcv_nxt is None or module.after(end, rcv_nxt):
                rcv_nxt = end
        return snd_nxt or 0, rcv_nxt or 0

    module.sequence_state = sequence_state

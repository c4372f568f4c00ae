"""ex11 whose sequence_state forgets that a FIN consumes one sequence number.

The ACK of the server's FIN then acknowledges the FIN's own number instead
of that number + 1: the server, in LAST-ACK, never sees its FIN
acknowledged and sends it again.
"""

EXERCISE = "ex11_handcraft"
MUST_FAIL = ["test_sequence_state", "test_ack_of_the_server_fin", "test_live_close_with_fin"]


def apply(module) -> None:
    def sequence_state(packets, me):
        from scapy.layers.inet import TCP

        snd_nxt = rcv_nxt = None
        for pkt in packets:
            end = (pkt[TCP].seq + module.payload_length(pkt) + ("S" in pkt[TCP].flags)) % module.MOD
            source, _ = module.endpoints(pkt)
            if source == me:
                if snd_nxt is None or module.after(end, snd_nxt):
                    snd_nxt = end
            elif rcv_nxt is None or module.after(end, rcv_nxt):
                rcv_nxt = end
        return snd_nxt or 0, rcv_nxt or 0

    module.sequence_state = sequence_state

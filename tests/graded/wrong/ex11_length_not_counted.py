"""ex11 that acknowledges the *start* of the data it received: ack = the segment's seq, its length forgotten.

The ACK field says "I have every byte before this one": after a segment of
61 bytes at seq s, that is s + 61.  Acknowledging s tells the server that
none of its bytes arrived, and it sends them again.  (The mistake hides
whenever the last packet received carries no data: its seq is then the
right number.)
"""

EXERCISE = "ex11_handcraft"
MUST_FAIL = ["test_sequence_state", "test_data_segment", "test_acknowledge", "test_live_close_with_fin"]


def apply(module) -> None:
    def sequence_state(packets, me):
        from scapy.layers.inet import TCP

        snd_nxt = rcv_nxt = None
        for pkt in packets:
            flags = pkt[TCP].flags
            source, _ = module.endpoints(pkt)
            if source == me:
                end = (pkt[TCP].seq + module.payload_length(pkt) + ("S" in flags) + ("F" in flags)) % module.MOD
                if snd_nxt is None or module.after(end, snd_nxt):
                    snd_nxt = end
            else:
                end = (pkt[TCP].seq + ("S" in flags) + ("F" in flags)) % module.MOD
                if rcv_nxt is None or module.after(end, rcv_nxt):
                    rcv_nxt = end
        return snd_nxt or 0, rcv_nxt or 0

    module.sequence_state = sequence_state

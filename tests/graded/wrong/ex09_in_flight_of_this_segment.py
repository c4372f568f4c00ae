"""ex09 that counts bytes in flight from the end of *this* segment, not the highest end sent.

For new data the two are the same.  For a retransmission they are not: the
resent segment is behind the bytes already on their way, and those are in
flight too (tshark: 2000 for the first resent segment of round_trips.pcap,
not 1000).
"""

EXERCISE = "ex09_wire"
MUST_FAIL = ["test_bytes_in_flight_agree_with_tshark"]


def bytes_in_flight(segments):
    from .ex09_wire import MOD, segment_end

    first, acked, result = {}, {}, []
    for seg in segments:
        mine = (seg.src, seg.sport, seg.dst, seg.dport)
        theirs = (seg.dst, seg.dport, seg.src, seg.sport)
        first.setdefault(mine, seg.seq)
        if "A" in seg.flags:
            acked[theirs] = seg.ack
        result.append((segment_end(seg) - acked.get(mine, first[mine])) % MOD if seg.length else None)
    return result


def apply(module) -> None:
    module.bytes_in_flight = bytes_in_flight

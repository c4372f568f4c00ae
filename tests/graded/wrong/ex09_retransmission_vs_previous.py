"""ex09 that calls a segment a retransmission when its seq is below the *previous* segment's.

The first resent segment is caught (it goes back), the second is not: it
comes after the first resent one, although its bytes were sent long before.
Compare with the highest end sent so far, not with the last segment.
"""

EXERCISE = "ex09_wire"
MUST_FAIL = ["test_retransmissions_agree_with_tshark"]


def retransmissions(segments):
    previous, found = {}, []
    for i, seg in enumerate(segments):
        mine = (seg.src, seg.sport, seg.dst, seg.dport)
        if mine in previous and (seg.length or "S" in seg.flags or "F" in seg.flags) \
                and 0 < (previous[mine] - seg.seq) % 2**32 < 2**31:
            found.append(i)
        previous[mine] = seg.seq
    return found


def apply(module) -> None:
    module.retransmissions = retransmissions

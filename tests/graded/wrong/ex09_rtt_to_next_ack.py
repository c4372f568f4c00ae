"""ex09 that times each segment to the next ACK coming back, whatever that ACK acknowledges.

"The RTT is the time from a segment to the next ACK" is the first idea, and
it is wrong whenever ACKs do not answer segments one for one: one ACK for
two segments (the first is not timed by it), a delayed ACK, an ACK that
acknowledges something else, segments lost and resent.  An ACK times the
segment whose end is its ack number.
"""

EXERCISE = "ex09_wire"
MUST_FAIL = ["test_rtt_samples_agree_with_tshark"]


def rtt_samples(segments):
    samples = []
    pending = {}  # direction -> the position of its latest segment with data, SYN or FIN, not yet timed
    for i, seg in enumerate(segments):
        mine = (seg.src, seg.sport, seg.dst, seg.dport)
        theirs = (seg.dst, seg.dport, seg.src, seg.sport)
        if "A" in seg.flags and theirs in pending:
            j = pending.pop(theirs)
            samples.append((i, j, seg.time - segments[j].time))
        if seg.length or "S" in seg.flags or "F" in seg.flags:
            pending[mine] = i
    return samples


def apply(module) -> None:
    module.rtt_samples = rtt_samples

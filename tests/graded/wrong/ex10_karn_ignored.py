"""ex10 that samples every ACK, retransmitted segments included (Karn's rule forgotten).

An ACK for bytes that were sent twice may acknowledge either copy: the
sample is the time since the second copy or the (much longer) time since
the first, and nobody can tell which.  Sampling it anyway is the classic
mistake Karn's rule (RFC 6298, section 3) forbids.
"""

EXERCISE = "ex10_rtt"
MUST_FAIL = ["test_rtt_samples_match_tshark", "test_karn_rule_on_a_hand_made_capture"]


def apply(module) -> None:
    def rtt_samples(segments, sender):
        sent, highest_end, last_ack, samples = [], 0, 0, []
        for s in segments:
            if s.src == sender:
                end = s.seq + s.length + ("S" in s.flags) + ("F" in s.flags)
                if end > s.seq:
                    highest_end = max(highest_end, end)
                    sent.append((end, s.time))
            elif "A" in s.flags and s.ack > last_ack:
                acked = [t for end, t in sent if end <= s.ack]
                if acked:
                    samples.append(module.RttSample(s.time, s.time - acked[-1]))
                last_ack = s.ack
        return samples

    module.rtt_samples = rtt_samples

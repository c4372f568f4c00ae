"""ex10 whose goodput counts every payload byte, retransmitted ones too.

That is the *throughput* of the link (what was sent), not the goodput (what
was new): under loss it is higher than the data that actually got through.
"""

EXERCISE = "ex10_rtt"
MUST_FAIL = ["test_goodput_matches_tshark", "test_goodput_hand_made"]


def apply(module) -> None:
    def goodput(segments, sender, interval=0.1):
        t0, totals = segments[0].time, []
        for s in segments:
            if s.src == sender and s.length:
                k = int((s.time - t0) // interval)
                totals += [0] * (k + 1 - len(totals))
                totals[k] += s.length
        return [total * 8 / interval for total in totals]

    module.goodput = goodput

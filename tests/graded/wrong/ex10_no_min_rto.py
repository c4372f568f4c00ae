"""ex10 whose RTO has no floor: SRTT + 4 RTTVAR, however small.

RFC 6298 (2.4) rounds RTO up to 1 s (Linux: 200 ms).  Without a floor, a
network with a steady 40 ms round trip gets an RTO of a few tens of ms,
and a receiver that delays its ACK makes the sender retransmit for nothing.
"""

EXERCISE = "ex10_rtt"
MUST_FAIL = ["test_rto_minimum", "test_backoff"]  # the backoff starts from the floor too


def apply(module) -> None:
    def update(self, rtt):
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - self.BETA) * self.rttvar + self.BETA * abs(self.srtt - rtt)
            self.srtt = (1 - self.ALPHA) * self.srtt + self.ALPHA * rtt
        self.rto = min(self.max_rto, self.srtt + max(self.granularity, self.K * self.rttvar))
        return self.rto

    module.RttEstimator.update = update

"""ex10 that updates SRTT before RTTVAR, so RTTVAR uses the new SRTT.

RFC 6298 (2.3) updates RTTVAR first, with the SRTT from before this sample.
"""

EXERCISE = "ex10_rtt"
MUST_FAIL = ["test_rfc6298_arithmetic"]


def apply(module) -> None:
    def update(self, rtt):
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.srtt = (1 - self.ALPHA) * self.srtt + self.ALPHA * rtt
            self.rttvar = (1 - self.BETA) * self.rttvar + self.BETA * abs(self.srtt - rtt)
        self.rto = min(self.max_rto, max(self.min_rto, self.srtt + max(self.granularity, self.K * self.rttvar)))
        return self.rto

    module.RttEstimator.update = update

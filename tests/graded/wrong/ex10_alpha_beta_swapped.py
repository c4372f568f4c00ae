"""ex10 with RFC 6298's gains swapped: alpha = 1/4 for SRTT, beta = 1/8 for RTTVAR.

The RFC smooths SRTT more (alpha = 1/8) than RTTVAR (beta = 1/4): the mean
moves slowly, the deviation reacts faster.
"""

EXERCISE = "ex10_rtt"
MUST_FAIL = ["test_rfc6298_arithmetic"]


def apply(module) -> None:
    module.RttEstimator.ALPHA = 1 / 4
    module.RttEstimator.BETA = 1 / 8

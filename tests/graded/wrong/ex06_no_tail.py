"""ex06 that counts only the gaps: lost = highest + 1 - received, whatever the sender said.

Datagrams lost after the highest number seen leave no gap, so this counts
none of them: a run whose last datagrams are all lost looks perfect.  Only
the sender's count shows the tail.
"""

EXERCISE = "ex06_udp"
MUST_FAIL = ["test_loss_at_the_end_needs_the_senders_count", "test_counting_loss_over_udp"]


def lost(self) -> int:
    return self.highest + 1 - len(self.seen)


def apply(module) -> None:
    module.LossCounter.lost = property(lost)

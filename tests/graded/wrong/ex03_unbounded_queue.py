"""ex03 with a send queue per member but no maximum size.

Nobody waits for the slow member any more, but the server keeps every line
for it: its queue, and the server's memory, grow for as long as it does not
read (``queue.Queue(0)`` has no limit).  One client that never reads must
cost the server a bounded amount, and then be dropped.
"""

EXERCISE = "ex03_broadcast"
MUST_FAIL = ["test_a_member_that_stops_reading_is_dropped"]


def apply(module) -> None:
    module.MAX_QUEUED = 0  # queue.Queue(0): no limit at all

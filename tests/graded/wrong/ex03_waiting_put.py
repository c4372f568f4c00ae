"""ex03 with a bounded send queue per member, but ``put`` waits when it is full.

``outbox.put(line)`` blocks while the slow member's queue is full, so the
thread relaying alice's line waits for sleepy again -- the same freeze as a
blocking ``sendall``, only MAX_QUEUED lines later.  ``put_nowait``, and a
drop when the queue is full, is the bounded send.
"""

EXERCISE = "ex03_broadcast"
MUST_FAIL = ["test_a_member_that_stops_reading_is_dropped"]


def offer(self, conn, outbox, line: bytes) -> bool:
    outbox.put(line)  # waits for room: the room waits with it
    return True


def apply(module) -> None:
    module.BroadcastServer.offer = offer

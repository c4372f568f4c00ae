"""ex02 that frames every line right, in linear time, but has no limits.

A line of any length is kept whole and returned, and a peer that never
sends a line end makes the buffer grow for ever: one client can fill the
server's memory.  The chat's limits (1024 bytes per line, 8192 without a
line end, docs/PROTOCOL.md) are part of the framing.
"""

EXERCISE = "ex02_framing"
MUST_FAIL = ["test_a_line_over_the_limit_is_discarded_and_reported", "test_the_limit_is_1024_bytes",
             "test_a_flood_without_line_end_gives_up"]


def apply(module) -> None:
    framed = module.LineBuffer.__init__

    def __init__(self, max_line=1024, max_unterminated=8192):
        framed(self, 2**62, 2**62)  # the limits are ignored

    module.LineBuffer.__init__ = __init__

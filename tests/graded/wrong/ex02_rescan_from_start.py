"""ex02 with the limits right, but each feed() searches the pending bytes again from their start.

The lines come out right, so every other test passes; but ``find`` runs
over the whole pending line on every call, so a line of n bytes that
arrives one byte per ``recv`` costs about n * n / 2 steps, and a client
trickling bytes makes the server burn its CPU.  The pending bytes hold no
line end: only the new ones need searching.
"""

from lab.chat.wire import LineTooLong, NoLineEnd

EXERCISE = "ex02_framing"
MUST_FAIL = ["test_feeding_one_byte_at_a_time_costs_linear_work"]


def __init__(self, max_line=1024, max_unterminated=8192):
    self.max_line = max_line
    self.max_unterminated = max_unterminated
    self._buffer = bytearray()  # the pending bytes; of a line over the limit, its first max_line + 1
    self._dropped = 0  # bytes of the current line not kept
    self._after_cr = False
    self._gave_up = False


def feed(self, data):
    if self._gave_up:
        return []
    if self._after_cr and data[:1] == b"\n":
        data = data[1:]
    self._after_cr = False
    self._buffer += data
    events = []
    while True:
        ends = [i for i in (self._buffer.find(b"\n"), self._buffer.find(b"\r")) if i >= 0]  # from index 0
        if not ends:
            break
        end = min(ends)
        length = self._dropped + end
        if length > self.max_line:
            events.append(LineTooLong(length, self.max_line))
        else:
            events.append(self._buffer[:end].decode("utf-8", errors="replace"))
        self._dropped = 0
        cut = end + 1
        if self._buffer[end] == 0x0D:
            if end + 1 == len(self._buffer):
                self._after_cr = True
            elif self._buffer[end + 1] == 0x0A:
                cut = end + 2
        del self._buffer[:cut]
    if self._dropped + len(self._buffer) > self.max_unterminated:
        self._gave_up = True
        self._buffer.clear()
        return events + [NoLineEnd(self.max_unterminated)]
    if len(self._buffer) > self.max_line + 1:
        self._dropped += len(self._buffer) - (self.max_line + 1)
        del self._buffer[self.max_line + 1:]
    return events


def pending(self):
    return b"" if len(self._buffer) > self.max_line else bytes(self._buffer)


def apply(module) -> None:
    module.LineBuffer.__init__ = __init__
    module.LineBuffer.feed = feed
    module.LineBuffer.pending = property(pending)

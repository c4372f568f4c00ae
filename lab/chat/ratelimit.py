"""A token bucket: how fast one client may send lines.

Pure logic with the clock passed in, so tests can drive time by hand.  The
bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per
second; each line costs one.  When it is empty the server does not drop
anything: it stops *reading* from that client for ``delay`` seconds.  The
client's lines wait in the kernel's buffers, its TCP window closes, and its
own ``send()`` slows down: TCP's flow control does the throttling, and no
message is lost.
"""

from __future__ import annotations


class TokenBucket:
    """Up to ``burst`` tokens, refilled at ``rate`` per second; each line costs one.

    >>> bucket = TokenBucket(rate=10, burst=2, now=0.0)
    >>> bucket.try_take(0.0), bucket.try_take(0.0), bucket.try_take(0.0)
    (True, True, False)
    >>> bucket.try_take(0.1)    # a tenth of a second later, one token is back
    True
    >>> bucket.take(0.1)        # empty: wait a tenth of a second before reading on
    0.1
    """

    def __init__(self, rate: float, burst: int, now: float):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Spend one token; return how long to wait first (0.0 if none).

        For a caller that will wait (the TCP server sleeps before reading on):
        the token is spent now, and the bucket may go below zero.
        """
        self._refill(now)
        self.tokens -= 1
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate

    def try_take(self, now: float) -> bool:
        """Spend one token if there is one; False (and nothing spent) if not.

        For a caller that discards what is over the limit (the UDP server).
        """
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

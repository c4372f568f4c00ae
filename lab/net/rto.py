"""The retransmission timeout: RFC 6298's estimator, and Linux's formula beside it (sans-I/O).

TCP re-sends what is not acknowledged in time, and "in time" follows the
round trips it measures.  RFC 6298 ("Computing TCP's Retransmission Timer")
keeps two numbers, updated on every round-trip sample R:

* SRTT, the smoothed round-trip time, and RTTVAR, its mean deviation:
  the first sample sets SRTT = R, RTTVAR = R / 2 (rule 2.2); each later one
  updates RTTVAR first, with the *old* SRTT (2.3)::

      RTTVAR = (1 - BETA) * RTTVAR + BETA * |SRTT - R|     BETA  = 1/4
      SRTT   = (1 - ALPHA) * SRTT  + ALPHA * R             ALPHA = 1/8

* RTO = SRTT + max(G, K * RTTVAR), K = 4, G the clock's granularity, at
  least 1 s (2.4) and at most a cap of 60 s or more (2.5); doubled each time
  the timer expires (5.5).

That is ``RttEstimator``: the one copy in ``lab/`` of the SRTT/RTTVAR
arithmetic.  The kit's reliable UDP (:mod:`lab.udp.reliable`), the capture's
loss-recovery model (:mod:`lab.capture.recovery`) and lesson 8
(:mod:`lab.notebook.microscope`) all use it.

Linux computes the same SRTT and (nearly) the same deviation, but not the
same RTO: its floor of 200 ms (``TCP_RTO_MIN``) is added to the variance
term, not to the result, so its timeout is never below SRTT + 200 ms
(``linux_rto``; the kernel's ``__tcp_set_rto`` adds ``rttvar_us``, which it
keeps at least ``tcp_rto_min``).  With a 40 ms round trip RFC 6298 waits
1 s and Linux about 240 ms: lesson 8 shows both beside the kernel's own.

Exercises 10 and 12 have students write this estimator themselves
(``solutions/ex10_rtt.py``, ``solutions/ex12_reliable.py``: a student
release has no answer to import); tests/udp/test_reliable.py checks that
exercise 12's copy is this code, definition by definition.

>>> est = RttEstimator(min_rto=1.0)
>>> est.rto                      # rule 2.1: 1 s before any sample
1.0
>>> est.sample(0.100)            # the first sample: SRTT = R, RTTVAR = R / 2
>>> est.srtt, est.rttvar, est.rto   # 0.1 + 4 x 0.05 = 0.3 s, raised to the 1 s floor
(0.1, 0.05, 1.0)
>>> est.sample(0.200)
>>> round(est.rttvar, 6), round(est.srtt, 6)   # RTTVAR first, with the old SRTT
(0.0625, 0.1125)
>>> round(linux_rto(est.srtt, est.rttvar), 6)  # Linux: 0.1125 + max(4 x 0.0625, 0.2)
0.3625
"""

from __future__ import annotations

ALPHA, BETA, K = 1 / 8, 1 / 4, 4  # RFC 6298 (2.3)

INITIAL_RTO = 1.0
"""Seconds: the timeout before any round-trip sample (RFC 6298 2.1; Linux's TCP_TIMEOUT_INIT too)."""

LINUX_RTO_MIN = 0.200
"""Seconds: Linux's TCP_RTO_MIN, the least it adds to SRTT (RFC 6298 2.4 says the RTO is at least 1 s)."""


class RttEstimator:
    """The retransmission timeout of RFC 6298, computed from round-trip samples.

    * first sample R (2.2): SRTT = R, RTTVAR = R / 2;
    * every later sample R' (2.3), RTTVAR first, with the old SRTT:
      RTTVAR = (1 - beta) RTTVAR + beta |SRTT - R'|, then
      SRTT = (1 - alpha) SRTT + alpha R', with alpha = 1/8, beta = 1/4;
    * RTO = SRTT + max(G, K RTTVAR), K = 4, G the clock granularity, then
      kept between ``min_rto`` and ``max_rto`` (2.4, 2.5);
    * before any sample RTO is ``initial_rto``, 1 s (2.1);
    * each expiry doubles RTO, up to ``max_rto`` (5.5, "back off the
      timer"); the next sample computes it afresh from SRTT and RTTVAR.

    All times are seconds.  Karn's rule (RFC 6298 section 3) is the
    caller's: never sample a segment that was sent more than once (which
    copy did the ACK answer?).

    The minimum: RFC 6298 (2.4) says 1 s; the default here is Linux's
    200 ms (TCP_RTO_MIN), still applied as the RFC applies it (to the
    result; ``linux_rto`` is how Linux applies it).  The maximum: the RFC
    allows a cap of 60 s or more (2.5; Linux: 120 s), the default here.
    ``math.inf`` and a minimum of 0 leave only the RFC's arithmetic.
    Exercises 10 and 12 write the same estimator, with the same alpha, beta
    and K; with the same minimum they give the same RTO.
    """

    def __init__(self, min_rto: float = 0.2, max_rto: float = 60.0, initial_rto: float = 1.0,
                 granularity: float = 0.001) -> None:
        self.min_rto, self.max_rto, self.granularity = min_rto, max_rto, granularity
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self.rto = min(max(initial_rto, min_rto), max_rto)

    def sample(self, rtt: float) -> None:
        """Take one round-trip time RTT (seconds) into SRTT, RTTVAR and RTO."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        self.rto = min(max(self.srtt + max(self.granularity, K * self.rttvar), self.min_rto), self.max_rto)

    def backoff(self) -> None:
        """The timer expired: double RTO, at most ``max_rto``."""
        self.rto = min(self.rto * 2, self.max_rto)


def linux_rto(srtt: float | None, rttvar: float | None) -> float:
    """The retransmission timeout as Linux computes it, in seconds: SRTT + max(4 x RTTVAR, 200 ms).

    Linux's floor (``LINUX_RTO_MIN``) bounds the variance term, so the
    timeout is never below SRTT + 200 ms; RFC 6298 instead bounds the result
    (at least 1 s).  ``INITIAL_RTO`` (1 s) before the first sample (SRTT
    None).  A model: the kernel's RTTVAR is the largest deviation of the
    last round trip (``mdev_max``), not quite RFC 6298's.

    >>> linux_rto(None, None)
    1.0
    >>> round(linux_rto(0.040, 0.005), 6)   # 40 ms round trip, steady: SRTT + 200 ms
    0.24
    >>> round(linux_rto(0.100, 0.080), 6)   # jittery: SRTT + 4 x RTTVAR
    0.42
    """
    if srtt is None:
        return INITIAL_RTO
    return srtt + max(K * (rttvar or 0.0), LINUX_RTO_MIN)

"""The token bucket of the flood limit, driven by a hand-held clock."""

from lab.chat.ratelimit import TokenBucket


def test_a_burst_passes_then_waits_grow_at_the_rate():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == 0.1  # one token short, refilled at 10/s
    assert bucket.take(0.0) == 0.2


def test_idle_time_refills_up_to_the_burst_only():
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    bucket.take(100.0)
    assert bucket.tokens == 2  # refilled to 3, not to 1000, then one spent


def test_try_take_spends_nothing_when_empty():
    bucket = TokenBucket(rate=5, burst=2, now=0.0)
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, False, False]
    assert bucket.try_take(0.2)  # 0.2 s at 5/s: exactly one token back
    assert not bucket.try_take(0.2)

"""The write limit: a token bucket per participant."""

from web_client.study.limits import Bucket, WriteLimits, take


def test_a_burst_then_the_rate():
    allowed, bucket = [], None
    for _ in range(5):
        ok, bucket = take(bucket, 0.0, rate=2, burst=3)
        allowed.append(ok)
    assert allowed == [True, True, True, False, False]
    assert take(bucket, 0.5, rate=2, burst=3)[0]  # half a second at 2/s: one more
    assert take(Bucket(0, 0), 100, rate=2, burst=3)[1].tokens == 2  # never more than the burst


def test_each_participant_has_a_bucket_of_their_own():
    now = [0.0]
    limits = WriteLimits(rate=1, burst=2, clock=lambda: now[0])
    assert [limits.allow("a") for _ in range(3)] == [True, True, False]
    assert limits.allow("b")
    now[0] = 1.0
    assert limits.allow("a")

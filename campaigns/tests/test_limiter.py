"""The global limiter, on the real Redis: the window rule as grants are handed out."""

import random
import threading
import uuid

import pytest
import redis
from django.conf import settings

from campaigns.limiter import SegmentLimiter


@pytest.fixture
def limiter():
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = f"{settings.REDIS_KEY_PREFIX}:limiter-test:{uuid.uuid4().hex}"
    yield lambda per_second=45, guard_ms=0: SegmentLimiter(
        client, prefix=prefix, per_second=per_second, guard_ms=guard_ms
    )
    client.delete(f"{prefix}:log", f"{prefix}:seq")


def max_in_any_window(grants, width_us):
    grants = sorted(grants)
    worst = 0
    for start, _ in grants:
        worst = max(worst, sum(k for t, k in grants if start <= t < start + width_us))
    return worst


def test_the_window_rule_holds_for_many_threads_and_mixed_sizes(limiter):
    shared = limiter(per_second=45, guard_ms=20)
    grants, lock = [], threading.Lock()

    def reserve_many(seed):
        rnd = random.Random(seed)
        for _ in range(40):
            k = rnd.choice([1, 1, 2, 3, 5])
            grant = shared.reserve(k)
            with lock:
                grants.append((grant.at_us, k))

    threads = [threading.Thread(target=reserve_many, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max_in_any_window(grants, shared.window_us) <= 45
    # Back to back with a backlog: the whole run takes about total / limit windows.
    total = sum(k for _, k in grants)
    span_us = max(t for t, _ in grants) - min(t for t, _ in grants)
    assert span_us <= (total / 45) * shared.window_us


def test_a_small_message_takes_room_a_big_one_cannot_use(limiter):
    shared = limiter(per_second=10)
    first = shared.reserve(8)
    big = shared.reserve(5)  # must wait for the 8 to leave the window
    small = shared.reserve(2)  # fits beside the 8 at once
    assert big.at_us >= first.at_us + shared.window_us
    assert small.at_us < big.at_us
    assert small.delay < 0.05


def test_a_message_over_the_limit_is_refused(limiter):
    with pytest.raises(ValueError, match="cannot fit a limit of 3/s"):
        limiter(per_second=3).reserve(4)
    with pytest.raises(ValueError, match="at least one segment"):
        limiter().reserve(0)

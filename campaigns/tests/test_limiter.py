"""The global limiter, on the real Redis: the window rule as grants are handed out."""

import itertools
import random
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings

from campaigns.limiter import SegmentLimiter


@pytest.fixture
def limiter():
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = f"{settings.REDIS_KEY_PREFIX}:limiter-test:{uuid.uuid4().hex}"
    yield lambda per_second=45, guard_ms=0, blind_after_loss=False, spread=0.0: SegmentLimiter(
        client,
        prefix=prefix,
        per_second=per_second,
        guard_ms=guard_ms,
        spread=spread,
        blind_after_loss=blind_after_loss,
    )
    client.delete(*(f"{prefix}:{name}" for name in ["log", "seq", "known", "blind"]))


def logged(shared):
    """The log of departures as {member: time_us}."""
    return {
        m.decode(): int(t) for m, t in shared.client.zrange(shared.keys[0], 0, -1, withscores=True)
    }


def max_in_any_window(grants, width_us):
    grants = sorted(grants)
    worst = 0
    for start, _ in grants:
        worst = max(worst, sum(k for t, k in grants if start <= t < start + width_us))
    return worst


def test_the_window_rule_holds_for_many_threads_and_mixed_sizes(limiter):
    """The departures, which bind, never overfill a window, and a backlog keeps the limit
    busy. (Plans only spread the wake-ups: a waiter who asks early is re-planned at the
    first opening, so plans may overlap.)"""
    shared = limiter(per_second=90, guard_ms=20)
    departures, lock = [], threading.Lock()

    def send_many(seed):
        rnd = random.Random(seed)
        for _ in range(20):
            k = rnd.choice([1, 1, 2, 3, 5])
            slot = shared.reserve(k)
            slot.sleep()
            slot.ready()
            departed = slot.at_us
            slot.left()
            with lock:
                departures.append((departed, k))

    threads = [threading.Thread(target=send_many, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max_in_any_window(departures, shared.window_us) <= 90
    # Back to back with a backlog: the whole run takes about total / limit windows.
    total = sum(k for _, k in departures)
    span_us = max(t for t, _ in departures) - min(t for t, _ in departures)
    assert span_us <= (total / 90 + 1) * shared.window_us


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


def test_only_departures_bind_whoever_is_ready_first_goes(limiter):
    """A process descheduled past its planned time goes when it is ready if the
    departures leave room, ahead of plans made meanwhile (no slot idles while a late
    process wakes); a plan whose room was taken finds out at its own ready, and waits.
    Either way the departures keep every window within the limit."""
    shared = limiter(per_second=10)
    late = shared.reserve(5)
    on_time = shared.reserve(5)
    on_time.ready()
    on_time.left()
    time.sleep(0.3)  # `late` oversleeps; meanwhile two more plan the next window
    after = [shared.reserve(5), shared.reserve(5)]
    assert all(a.at_us >= late.at_us + shared.window_us for a in after)
    late.ready()  # departures so far: 5 in the window; room for 5 now
    late.left()
    assert late.waited == 0
    delay_us, at_us = shared.place_now(after[0].member)  # as if it were ready now
    assert delay_us > 0
    departed = logged(shared)
    assert at_us >= departed[on_time.member] + shared.window_us
    sizes = [(t, int(m.split(":")[1])) for m, t in departed.items()]
    assert max_in_any_window(sizes, shared.window_us) <= 10


def test_a_late_waker_goes_at_once_when_the_window_has_room(limiter):
    shared = limiter(per_second=10)
    late = shared.reserve(5)
    time.sleep(0.2)
    late.ready()
    late.left()
    assert late.waited == 0
    assert logged(shared)[late.member] > late.at_us - 1  # placed at the real moment


def test_a_write_later_than_the_gate_moves_the_departure_by_the_excess(limiter):
    shared = limiter(per_second=10, guard_ms=10)  # gate: 5 ms
    slot = shared.reserve(3)
    slot.ready()
    placed = logged(shared)[slot.member]
    time.sleep(0.2)  # descheduled between the answer and the write
    slot.left()
    departed = logged(shared)[slot.member]
    assert 190_000 <= departed - placed <= 400_000
    assert slot.late_us >= 200_000


def test_a_write_within_the_gate_keeps_its_place_without_another_call(limiter):
    shared = limiter(per_second=10, guard_ms=200)
    slot = shared.reserve(3)
    slot.ready()
    placed = logged(shared)[slot.member]
    original = shared.depart
    shared.depart = lambda *args: pytest.fail("LEFT called for a write within the gate")
    slot.left()
    shared.depart = original
    assert logged(shared)[slot.member] == placed


def test_a_place_answered_later_than_the_gate_is_asked_for_again(limiter):
    """The answer came back after the gate (the process was descheduled, or Redis was):
    the request could leave any time after the place, so the place is taken afresh."""
    shared = limiter(per_second=10, guard_ms=20)  # gate: 10 ms
    original, calls = shared.place_now, []

    def slow_first_answer(member):
        answer = original(member)
        calls.append(answer[1])
        if len(calls) == 1:
            time.sleep(0.05)
        return answer

    shared.place_now = slow_first_answer
    slot = shared.reserve(2)
    slot.ready()
    slot.left()
    assert slot.asked == 2
    assert len(calls) == 2
    assert calls[1] >= calls[0] + 50_000
    assert logged(shared) == {slot.member: calls[1]}  # one place, the second


def test_a_waiter_wakes_for_the_first_opening_not_its_turn_in_the_plan(limiter):
    """Plans spread the wake-ups but do not bind: a waiter asking too early is told when the
    departures next leave room, so it is awake there if the plan ahead of it is late."""
    shared = limiter(per_second=10)
    first = shared.reserve(10)
    first.ready()
    first.left()
    ahead = shared.reserve(10)  # planned at the next opening
    behind = shared.reserve(10)  # planned a window after that
    assert behind.at_us >= ahead.at_us + shared.window_us
    delay_us, at_us = shared.place_now(behind.member)
    assert delay_us > 0
    assert at_us == ahead.at_us == logged(shared)[first.member] + shared.window_us


def test_a_resend_takes_a_place_of_its_own(limiter):
    shared = limiter(per_second=10)
    slot = shared.reserve(4)
    slot.ready()
    slot.left()
    first = slot.member
    slot.ready()  # the connection dropped: the same request once more
    slot.left()
    assert slot.member != first
    assert sorted(logged(shared)) == sorted([first, slot.member])


def test_an_unused_place_is_given_back_and_a_used_one_is_not(limiter):
    shared = limiter(per_second=10)
    unused = shared.reserve(10)
    unused.release()
    used = shared.reserve(10)
    assert used.delay < 0.05
    used.ready()
    used.left()
    used.release()
    assert shared.reserve(1).delay > 0.9  # the 10 that left still fill the window


def test_after_the_log_is_lost_nothing_goes_for_a_window(limiter):
    """Redis restarted empty: the last second's departures are unknown, so the first
    place is a whole window later. A log that merely expired while idle costs nothing."""
    shared = limiter(per_second=45, guard_ms=10, blind_after_loss=True)
    first = shared.reserve(1)
    assert first.delay >= 0.95
    time.sleep(first.delay)
    shared.client.delete(shared.keys[0], shared.keys[1])  # idle: the log expired
    assert shared.reserve(1).delay < 0.05
    shared.client.delete(*shared.keys)  # lost: every key gone
    assert shared.reserve(1).delay >= 0.95


def test_spreading_keeps_each_place_its_segments_spacing_after_the_one_before(limiter):
    limit = limiter(per_second=45, spread=0.9)
    spacing_us = int(0.9 * 1_000_000 / 45)
    sizes = [3, 1, 1, 2, 1, 3] * 10  # 110 segments: past one window
    placed = sorted((limit.reserve(size).at_us, size) for size in sizes)
    for (before, size), (after, _) in itertools.pairwise(placed):
        assert after - before >= size * spacing_us
    # The window rule still caps every second.
    for start, _ in placed:
        assert sum(size for at, size in placed if start <= at < start + 1_000_000) <= 45
    assert placed[-1][0] - placed[0][0] > 2_000_000


def test_spreading_holds_at_ready_for_whoever_goes_first(limiter):
    limit = limiter(per_second=45, spread=0.9)
    first, second = limit.reserve(2), limit.reserve(1)
    second.ready()  # goes first, now
    delay_us, _ = limit.place_now(first.member)
    assert delay_us >= 0.9 * 1_000_000 / 45 - 2_000  # one segment's spacing, from now

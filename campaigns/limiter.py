"""The global SMS rate limit: at most SMS_SEGMENTS_PER_SECOND segments reach the provider
in any one-second window, across every worker process, while a backlog keeps it ~98% busy.

Why this algorithm
------------------
A token bucket with a burst lets up to twice the rate through some one-second windows
(a full bucket, then a refill), and a fixed one-second counter lets 2x through across a
boundary. Neither is acceptable to a provider that counts arrivals in *any* window.

This limiter keeps a log of grants (time, segments) in Redis and hands out grant times
that satisfy two rules, in one Lua script so that all workers see one sequence:

1. Sliding window: for a grant of k segments at time t, the segments granted in
   (t - W, t] plus k never exceed the limit. W is one second plus a guard G. A message's
   segments all arrive at once (one provider request), so they are reserved together.
2. Pacing: successive grants are at least k * W / limit apart, so the work arrives
   spread out instead of in bursts that pile up on the provider (and on the two cores
   of a small box, where a burst of 45 sends at once is exactly what creates jitter).

Why the guard: a grant at t reaches the provider at t + latency, and latency varies
(sleep precision, scheduling, the network). If every latency lies within a band of width
G, two arrivals whose grants were W = 1 s + G apart are at least one second apart, so the
window rule holds as the provider measures it. The price is throughput: 1 / (1 + G)
of the limit, so the default G = 20 ms keeps 98.0%. Set it to the latency spread you
observe to your provider (each attempt's latency is logged); the spread measured here is
in docs/PERFORMANCE.md.

Clock: Redis `TIME`, one clock for every worker (their own clocks may disagree).
The caller sleeps for the delay the script returns, then sends: no busy loop, no retry.
"""

import time
from dataclasses import dataclass

import redis
from django.conf import settings

RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local k = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local spacing = tonumber(ARGV[4])
if k > limit then
  return {-1, 0}
end
-- Grants that ended their window before now can no longer constrain anything.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local at = now
local paced = tonumber(redis.call('GET', KEYS[2]) or '0')
if paced > at then at = paced end
-- Newest first: find the grant that would make the window overflow; we go after it
-- leaves the window. Every logged grant is <= at, because grants only move forward.
local entries = redis.call('ZREVRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], ':(%d+)$'))
  if used + k > limit then
    local free_at = tonumber(entries[i + 1]) + window
    if free_at > at then at = free_at end
    break
  end
end
local id = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], at, id .. ':' .. k)
local ttl = math.floor((at - now + 2 * window) / 1000) + 1
redis.call('SET', KEYS[2], at + k * spacing, 'PX', ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return {at - now, at}
"""


@dataclass(frozen=True)
class Grant:
    delay: float  # seconds to wait before handing the message to the provider
    at_us: int  # the grant time on the Redis clock, microseconds


class SegmentLimiter:
    def __init__(self, client: redis.Redis, *, prefix: str, per_second: int, guard_ms: float):
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.client = client
        self.per_second = per_second
        self.window_us = int(1_000_000 + guard_ms * 1000)
        self.spacing_us = self.window_us // per_second
        self.keys = [f"{prefix}:log", f"{prefix}:pace", f"{prefix}:seq"]
        self.script = client.register_script(RESERVE)

    def reserve(self, segments: int) -> Grant:
        """Reserve a slot for a message of `segments` segments, all at once."""
        if segments < 1:
            raise ValueError("a message has at least one segment")
        delay_us, at_us = self.script(
            keys=self.keys, args=[segments, self.per_second, self.window_us, self.spacing_us]
        )
        if delay_us < 0:
            raise ValueError(
                f"a message of {segments} segments cannot fit a limit of {self.per_second}/s"
            )
        return Grant(delay=delay_us / 1_000_000, at_us=at_us)

    def wait(self, segments: int) -> Grant:
        """Reserve, then sleep until the grant time."""
        grant = self.reserve(segments)
        if grant.delay > 0:
            time.sleep(grant.delay)
        return grant


_limiters: dict[tuple, SegmentLimiter] = {}


def get_limiter() -> SegmentLimiter:
    """The process's limiter for the current settings (one Redis pool per process)."""
    key = (
        settings.REDIS_URL,
        settings.REDIS_KEY_PREFIX,
        settings.SMS_SEGMENTS_PER_SECOND,
        settings.SMS_RATE_GUARD_MS,
    )
    if key not in _limiters:
        _limiters[key] = SegmentLimiter(
            redis.Redis.from_url(settings.REDIS_URL),
            prefix=f"{settings.REDIS_KEY_PREFIX}:sms:limiter",
            per_second=settings.SMS_SEGMENTS_PER_SECOND,
            guard_ms=settings.SMS_RATE_GUARD_MS,
        )
    return _limiters[key]

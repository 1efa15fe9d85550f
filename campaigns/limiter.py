"""The global SMS rate limit: at most SMS_SEGMENTS_PER_SECOND segments reach the provider
in any one-second window, across every worker process, while a backlog keeps it ~98% busy.

Why this algorithm
------------------
A token bucket with a burst lets up to twice the rate through some one-second windows
(a full bucket, then a refill), and a fixed one-second counter lets 2x through across a
boundary. Neither is acceptable to a provider that counts arrivals in *any* window.

This limiter keeps a log of grants (time, segments) in Redis and, in one Lua script so
that all workers see one sequence, gives each message the earliest time at which its
segments fit: for every window [x, x + W) that contains the grant, the segments granted
in it plus this message's never exceed the limit. W is one second plus a guard G. A
message's segments all arrive at once (one provider request), so they are reserved
together, and a later one-segment message may take room a three-segment message could
not use yet: first-come-first-served in grant order would leave slots idle (a simulation
of the 1/2/3-segment mix: 98.6% of the limit in FIFO order, 100% with this).

Why the guard: a grant at t reaches the provider at t + latency, and latency varies
(sleep precision, scheduling, the network). If every latency lies within a band of width
G, two arrivals whose grants were W = 1 s + G apart are at least one second apart, so the
window rule holds as the provider measures it. The price is throughput: 1 / (1 + G)
of the limit, so the default G = 20 ms keeps 98.0%. Set it to the latency spread you
observe to your provider (each attempt's latency is logged; docs/PERFORMANCE.md, "SMS
rate").

Clock: Redis `TIME`, one clock for every worker (their own clocks may disagree).
The caller sleeps for the delay the script returns, then sends: no busy loop, no retry.
"""

import time
from dataclasses import dataclass

import redis
from django.conf import settings

from messaging_site import redis_client

RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local k = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
if k > limit then
  return {-1, 0}
end
-- A grant at or before now - window lies outside every window that contains a time >= now.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local raw = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local times, sizes, prefix = {}, {}, {[0] = 0}
for i = 1, #raw, 2 do
  local n = #times + 1
  times[n] = tonumber(raw[i + 1])
  sizes[n] = tonumber(string.match(raw[i], ':(%d+)$'))
  prefix[n] = prefix[n - 1] + sizes[n]
end
local n = #times

-- Would k more segments at time t keep every window [x, x + window) that contains t
-- within the limit? The load of such a window only changes at grant times, so it is
-- enough to check the window starting just after t - window and those starting at each
-- grant in (t - window, t]. Two pointers over the sorted grants: O(n) per t.
local function fits(t)
  local lo, hi = 1, 0
  local function load(x)
    while lo <= n and times[lo] < x do lo = lo + 1 end
    while hi < n and times[hi + 1] < x + window do hi = hi + 1 end
    if hi < lo then return 0 end
    return prefix[hi] - prefix[lo - 1]
  end
  if load(t - window + 1) + k > limit then return false end
  for i = 1, n do
    local x = times[i]
    if x > t then break end
    if x > t - window and load(x) + k > limit then return false end
  end
  return true
end

-- Candidates, earliest first: now, and every moment a grant leaves the window. A later,
-- smaller message may take room an earlier, bigger one could not use: no slot idles.
local at = nil
if fits(now) then
  at = now
else
  for i = 1, n do
    local t = times[i] + window
    if t > now and fits(t) then
      at = t
      break
    end
  end
end
if at == nil then
  return {-1, 0}
end
local id = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], at, id .. ':' .. k)
local ttl = math.floor((at - now + 2 * window) / 1000) + 1
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
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
        self.keys = [f"{prefix}:log", f"{prefix}:seq"]
        self.script = client.register_script(RESERVE)

    def reserve(self, segments: int) -> Grant:
        """Reserve a slot for a message of `segments` segments, all at once."""
        if segments < 1:
            raise ValueError("a message has at least one segment")
        delay_us, at_us = self.script(
            keys=self.keys, args=[segments, self.per_second, self.window_us]
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
            redis_client.client(),
            prefix=redis_client.key("sms", "limiter"),
            per_second=settings.SMS_SEGMENTS_PER_SECOND,
            guard_ms=settings.SMS_RATE_GUARD_MS,
        )
    return _limiters[key]

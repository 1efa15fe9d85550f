"""The global SMS rate limit: at most SMS_SEGMENTS_PER_SECOND segments reach the provider
in any one-second window, across every worker process, and a backlog keeps it as busy as
the guard and the processes waiting for places allow (docs/RELIABILITY.md).

Why this algorithm
------------------
A token bucket with a burst lets up to twice the rate through some one-second windows
(a full bucket, then a refill), and a fixed one-second counter lets 2x through across a
boundary. Neither is acceptable to a provider that counts arrivals in *any* window.

This limiter keeps a log of departures (time, segments) in Redis and, in Lua scripts so
that all workers see one sequence, gives each message the earliest time at which its
segments fit: for every window [x, x + W) that contains it, the segments in it plus this
message's never exceed the limit. W is one second plus a guard G. A message's segments
all arrive at once (one provider request), so they are placed together, and a later
one-segment message may take room a three-segment message could not use yet:
first-come-first-served would leave slots idle (a simulation of the 1/2/3-segment mix:
98.6% of the limit in FIFO order, 100% with this).

The log holds what left, not what was planned
---------------------------------------------
A slot is taken in three steps (`Slot`), so that the log records when each request
actually went out, not when it was meant to:

1. `reserve`: a place in the *plan* at the earliest time that fits beside every departure
   and every other plan; the caller sleeps until shortly before then (WAKE_EARLY_S).
   Plans only spread the wake-ups.
2. `ready`, once the request is built and the connection open: the message departs *now*
   (Redis's clock) if now fits beside the departures in the log. Plans do not bind:
   whoever is ready first goes, so a process descheduled past its planned time neither
   sends bunched with what left meanwhile nor leaves its slot empty. Otherwise it is told
   the earliest moment the departures leave room and sleeps until then.
3. `left`, once the request is written.

Why the guard. Every request must reach the provider within a band of width G after its
logged place: then two arrivals whose places are W = 1 s + G apart are at least one
second apart, and no one-second window at the provider holds more than the limit. The
band has two parts:

- From READY running to the write: the caller measures the time from asking to writing
  (the answer's trip back, waiting for a CPU, building nothing: the request is ready).
  READY's answer is used only if it came back within half the guard (the gate);
  otherwise the place is asked for again. If the write itself ends later than the gate
  (the process was descheduled between the answer and the write), `left` moves the
  departure later by the excess. Under contention this is what used to break the limit
  (issue 17: 57 segments in a second with four workers; 46 and 47 with a 10 ms guard
  and an unmeasured answer).
- From the write to the provider's stamp: the network and the provider's own scheduling,
  the other half of the guard.

The price is throughput: at most 1 / (1 + G) of the limit, 99.0% with the default
G = 10 ms. Set it to twice the spread you observe between your workers and the
provider.

Spreading
---------
The window rule alone lets a backlog leave in bursts: the whole second's worth as soon as
the window has room, then nothing. A gateway that queues (Kannel: smsbox, then bearerbox,
then the SMS centre link) passes a burst on with delays that differ by tens of
milliseconds, more than any guard that keeps the rate near the limit, and so packs more
than the limit into some second at the SMS centre (46 and 47 of 45 in
campaigns/tests/test_kannel.py without spreading). So each departure also keeps a
distance from the one before it: SMS_RATE_SPREAD (0.6) of the even spacing, 1/limit of a
second, for each of that message's segments. Requests then reach the gateway one at a
time and it passes them on with the same small delay, and the window rule still caps
every second. The slack below the even spacing is what lets the successor of a late
waker catch up: every place is bound by the one a window before it, so a delay nobody
makes up is carried into every later second. Through Kannel (bench/sms_kannel.py, 1,500
texts, one session): 0.9 kept 97.7% of the limit, 0.6 98.8% and 0.3 99.4%, all without
a second over it; 0.6 is the middle, and held the limit over two runs of 10,000.

Losing Redis: if the log disappears (Redis restarted empty), nothing is known about the
last second's departures, so the first place after that is one window later. A marker
key without expiry tells a lost log from an idle one.

Clock: Redis `TIME`, one clock for every worker (their own clocks may disagree).
Callers sleep for the delays the scripts return: no busy loop.
"""

import time
from dataclasses import dataclass, field

import redis
from django.conf import settings

from messaging_site import redis_client

# Shared by RESERVE and READY: KEYS[1] the log of departures (member "id:segments", score
# the time in us), KEYS[2] the id sequence, KEYS[3] the marker, KEYS[4] the end of the
# blind window, KEYS[5] the plan (reservations not yet ready); ARGV[1] the limit, ARGV[2]
# the window (us), ARGV[4] the blind window after a loss (us). Defines `now`, `floor`,
# `load(with_plan, except)`, `fits(t, k)`, `earliest(k)`, `keep(t)`.
PRELUDE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local spacing = tonumber(ARGV[5])
local floor = now
if redis.call('SET', KEYS[3], '1', 'NX') then
  -- The log is gone (Redis restarted empty, or first use): what left in the last window
  -- is unknown, so nothing may go before a whole window has passed.
  redis.call('SET', KEYS[4], now + tonumber(ARGV[4]))
end
local blind = tonumber(redis.call('GET', KEYS[4]) or '0')
if blind > floor then floor = blind end

-- A departure at or before now - window lies outside every window containing a time >= now;
-- a reservation that old was abandoned (its process died) or is being replaced at READY.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)

local times, sizes, prefix, n = {}, {}, {[0] = 0}, 0
local function load(with_plan, except)
  local entries = {}
  local sets = with_plan and {KEYS[1], KEYS[5]} or {KEYS[1]}
  for _, key in ipairs(sets) do
    local raw = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for i = 1, #raw, 2 do
      if raw[i] ~= except then
        entries[#entries + 1] = {tonumber(raw[i + 1]), tonumber(string.match(raw[i], ':(%d+)$'))}
      end
    end
  end
  table.sort(entries, function(a, b) return a[1] < b[1] end)
  times, sizes, prefix, n = {}, {}, {[0] = 0}, #entries
  for i = 1, n do
    times[i], sizes[i] = entries[i][1], entries[i][2]
    prefix[i] = prefix[i - 1] + sizes[i]
  end
end

-- Would k more segments at time t keep every window [x, x + window) that contains t
-- within the limit, and keep their distance from the entries either side (`spacing` per
-- segment of the earlier one)? The load of such a window only changes at logged times,
-- so it is enough to check the window starting just after t - window and those starting
-- at each logged time in (t - window, t]. Two pointers over the sorted entries: O(n).
local function fits(t, k)
  local lo, hi = 1, 0
  local function load_of(x)
    while lo <= n and times[lo] < x do lo = lo + 1 end
    while hi < n and times[hi + 1] < x + window do hi = hi + 1 end
    if hi < lo then return 0 end
    return prefix[hi] - prefix[lo - 1]
  end
  if load_of(t - window + 1) + k > limit then return false end
  for i = 1, n do
    local x = times[i]
    if x <= t then
      if t < x + sizes[i] * spacing then return false end
    elseif x < t + k * spacing then
      return false
    end
    if x <= t and x > t - window and load_of(x) + k > limit then return false end
  end
  return true
end

-- Candidates, earliest first: the floor, every moment an entry leaves the window, and
-- every moment an entry's spacing ends. A later, smaller message may take room an
-- earlier, bigger one could not use.
local function earliest(k)
  if fits(floor, k) then return floor end
  local candidates = {}
  for i = 1, n do
    candidates[#candidates + 1] = times[i] + window
    candidates[#candidates + 1] = times[i] + sizes[i] * spacing
  end
  table.sort(candidates)
  for _, t in ipairs(candidates) do
    if t > floor and fits(t, k) then return t end
  end
  return nil
end

local function keep(ttl_from)
  local ttl = math.floor((ttl_from - now + 2 * window) / 1000) + 1
  for _, key in ipairs({KEYS[1], KEYS[2], KEYS[5]}) do redis.call('PEXPIRE', key, ttl) end
end
"""

# ARGV[3] segments. Plans against departures and other reservations alike, so that
# wake-ups spread over the slots. Returns {delay_us, at_us, member}, or {-1} if it can
# never fit.
RESERVE = (
    PRELUDE
    + """
local k = tonumber(ARGV[3])
if k > limit then return {-1, 0, ''} end
load(true, nil)
local at = earliest(k)
if at == nil then return {-1, 0, ''} end
local member = redis.call('INCR', KEYS[2]) .. ':' .. k
redis.call('ZADD', KEYS[5], at, member)
keep(at)
return {at - now, at, member}
"""
)

# ARGV[3] the member. Only departures bind: if k more segments at now keep every window
# of the log within the limit, the member departs now (whoever is ready first goes; a
# reservation is only a plan, and its owner checks again at its own READY). Otherwise it
# waits for the earliest moment the *departures* leave room, plans ignored, so that a
# waiter is awake for the first opening rather than for its turn in the plan. A member
# already in the log (a place its caller could not vouch for: `Slot.ready`) is placed
# afresh. Returns {delay_us, at_us}: delay 0 means "go".
READY = (
    PRELUDE
    + """
local member = ARGV[3]
local k = tonumber(string.match(member, ':(%d+)$'))
redis.call('ZREM', KEYS[5], member)
redis.call('ZREM', KEYS[1], member)
load(false, member)
if now >= floor and fits(now, k) then
  redis.call('ZADD', KEYS[1], now, member)
  keep(now)
  return {0, now}
end
local at = earliest(k)
if at == nil then return {-1, 0} end
redis.call('ZADD', KEYS[5], at, member)
keep(at)
return {at - now, at}
"""
)

# ARGV[1] the member, ARGV[2] its departure time (us). Only moves it later: a departure
# is never earlier than the place it was given.
LEFT = """
local member = ARGV[1]
local placed = redis.call('ZSCORE', KEYS[1], member)
local departed = tonumber(ARGV[2])
if placed and departed > tonumber(placed) then
  redis.call('ZADD', KEYS[1], departed, member)
end
return 0
"""

RELEASE = "return redis.call('ZREM', KEYS[5], ARGV[1])"


# A sleeper wakes this long before its planned place and asks again: under CPU contention
# a wake-up can come tens of milliseconds late, and the place of a process still asleep
# goes to whoever is awake (READY). About one slot of the limit's spacing, so a waiter is
# usually awake when the one before it is late.
WAKE_EARLY_S = 0.05


@dataclass
class Slot:
    """One message's place in the log, from its reservation to its departure.

    Backends call `ready()` right before writing the request and `left()` right after;
    `ready()` again after `left()` takes a further place for a second request (a resend
    on a fresh connection), since the provider may have received both.
    """

    limiter: "SegmentLimiter"
    segments: int
    member: str
    at_us: int
    delay: float  # seconds to wait after the reservation
    waited: float = 0.0  # seconds slept in all, for the log
    late_us: int = 0  # how long from asking for the place to the end of the write
    asked: int = 0  # READY calls, for the log
    _ready_at_us: int | None = field(default=None, repr=False)
    _asked_clock: float = field(default=0.0, repr=False)
    _departed: bool = field(default=False, repr=False)

    @property
    def departed(self) -> bool:
        """The request was written: its segments count against the limit for good."""
        return self._departed

    def sleep(self) -> None:
        """Wait until shortly before the reserved time (`ready()` waits the rest)."""
        delay = self.delay - WAKE_EARLY_S
        if delay > 0:
            time.sleep(delay)
            self.waited += delay

    def ready(self) -> None:
        """Block until the message may leave now, and hold that place.

        The place is Redis's clock when READY ran, some time after this process asked; the
        request goes out some time after the answer came back. Both delays lie within the
        time from asking to writing, measured here, so a place whose answer took longer
        than the limiter's gate (half the guard: a descheduled process, a busy Redis) is
        not used: it is asked for again. What a provider receives therefore reaches it
        within the guard of its logged place, however loaded the machine.
        """
        if self._departed:
            renewed = self.limiter.reserve(self.segments)
            self.member, self.at_us, self._departed = renewed.member, renewed.at_us, False
            renewed.sleep()
            self.waited += renewed.waited
        while True:
            asked = time.monotonic()
            delay_us, at_us = self.limiter.place_now(self.member)
            self.asked += 1
            self.at_us = at_us
            if delay_us <= 0:
                if time.monotonic() - asked <= self.limiter.gate_s:
                    self._asked_clock, self._ready_at_us = asked, at_us
                    return
                continue  # answered too late to vouch for: placed afresh
            time.sleep(delay_us / 1_000_000)
            self.waited += delay_us / 1_000_000

    def left(self) -> None:
        """The request is written. If that took longer than the gate after asking (the
        process was descheduled before or during the write), the departure moves later by
        the excess, so that the log stays within the gate of what really left."""
        if self._ready_at_us is None:
            raise RuntimeError("left() without ready()")
        elapsed_us = int((time.monotonic() - self._asked_clock) * 1_000_000)
        self.late_us = max(self.late_us, elapsed_us)
        excess_us = elapsed_us - self.limiter.gate_us
        if excess_us > 0:
            self.limiter.depart(self.member, self._ready_at_us + excess_us)
        self._ready_at_us, self._departed = None, True

    def release(self) -> None:
        """Nothing was sent: give the place back. A place that was used is never given
        back, whatever happened to the request after it was written."""
        if not self._departed and self._ready_at_us is None:
            self.limiter.release(self.member)


class SegmentLimiter:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        per_second: int,
        guard_ms: float,
        spread: float = 0.0,
        blind_after_loss: bool = True,
    ):
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.client = client
        self.per_second = per_second
        self.window_us = int(1_000_000 + guard_ms * 1000)
        # Half the guard for the time between asking for a place and writing the request
        # (measured by Slot), half for the network and the provider's own stamping. No
        # guard, no gate: the tests of the window rule place by the clock alone.
        self.gate_us = int(guard_ms * 1000 / 2) if guard_ms > 0 else 2**62
        self.gate_s = self.gate_us / 1_000_000
        if not 0 <= spread <= 1:
            raise ValueError("spread must be from 0 to 1")
        # Between one departure and the next: `spread` of the limit's even spacing for
        # each segment of the first (module docstring, "Spreading").
        self.spacing_us = int(spread * 1_000_000 / per_second)
        self.keys = [
            f"{prefix}:log",
            f"{prefix}:seq",
            f"{prefix}:known",
            f"{prefix}:blind",
            f"{prefix}:plan",
        ]
        # Tests of the window rule start from a log known to be empty.
        self.blind_us = self.window_us if blind_after_loss else 0
        self._reserve = client.register_script(RESERVE)
        self._ready = client.register_script(READY)
        self._left = client.register_script(LEFT)
        self._release = client.register_script(RELEASE)

    def reserve(self, segments: int) -> Slot:
        """A tentative place for a message of `segments` segments, all at once."""
        if segments < 1:
            raise ValueError("a message has at least one segment")
        delay_us, at_us, member = self._reserve(
            keys=self.keys,
            args=[self.per_second, self.window_us, segments, self.blind_us, self.spacing_us],
        )
        if delay_us < 0:
            raise ValueError(
                f"a message of {segments} segments cannot fit a limit of {self.per_second}/s"
            )
        return Slot(
            limiter=self,
            segments=segments,
            member=member.decode() if isinstance(member, bytes) else member,
            at_us=at_us,
            delay=delay_us / 1_000_000,
        )

    def place_now(self, member: str) -> tuple[int, int]:
        """Move a reserved place to now if now fits; else to the earliest time that does.
        Returns (delay_us, at_us)."""
        delay_us, at_us = self._ready(
            keys=self.keys,
            args=[self.per_second, self.window_us, member, self.blind_us, self.spacing_us],
        )
        return delay_us, at_us

    def depart(self, member: str, departed_us: int) -> None:
        self._left(keys=self.keys, args=[member, departed_us])

    def release(self, member: str) -> None:
        self._release(keys=self.keys, args=[member])

    def wait(self, segments: int) -> Slot:
        """Reserve and sleep until the reserved time (ready() still to come)."""
        slot = self.reserve(segments)
        slot.sleep()
        return slot


_limiters: dict[tuple, SegmentLimiter] = {}


def get_limiter() -> SegmentLimiter:
    """The process's limiter for the current settings (one Redis pool per process)."""
    key = (
        settings.REDIS_URL,
        settings.REDIS_KEY_PREFIX,
        settings.SMS_SEGMENTS_PER_SECOND,
        settings.SMS_RATE_GUARD_MS,
        settings.SMS_RATE_SPREAD,
    )
    if key not in _limiters:
        _limiters[key] = SegmentLimiter(
            redis_client.client(),
            prefix=redis_client.key("sms", "limiter"),
            per_second=settings.SMS_SEGMENTS_PER_SECOND,
            guard_ms=settings.SMS_RATE_GUARD_MS,
            spread=settings.SMS_RATE_SPREAD,
        )
    return _limiters[key]

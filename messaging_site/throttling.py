"""Throttles (README, "Configuration"), switched off as a whole by `THROTTLES=off`.

Rates live in REST_FRAMEWORK's DEFAULT_THROTTLE_RATES, overridable from the environment.
The window slides, as in DRF's throttles, but the count is one Redis script: DRF reads the
request log from the cache and writes it back, two round trips that two requests can
interleave (both pass at the limit). Here the trim, the count and the append are one
atomic step, a sorted set per key, in one round trip.
"""

import functools
import itertools
import logging
import math
import os

import redis
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from redis.commands.core import Script
from rest_framework import throttling
from rest_framework.settings import api_settings

from . import redis_client

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# KEYS[1]: the log; ARGV: now (ms), window (ms), limit, a member unique to this request.
# Returns -1 when the request is let through (and logged), else the oldest logged time.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
"""
_sequence = itertools.count()


def _sliding_window() -> Script:
    return redis_client.script(_SLIDING_WINDOW)


class _Switchable(throttling.SimpleRateThrottle):
    """DRF's throttle, counted in one atomic Redis script, and off with THROTTLES=off."""

    scope: str
    # Redis unreachable: let the request through (True), or answer 503 (False, by
    # messaging_site.rest_errors.server_error).
    fails_open = False
    # Set by SimpleRateThrottle.__init__ from the rate.
    num_requests: int
    duration: int

    def allow_request(self, request, view):
        if not settings.THROTTLES_ENABLED or self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = int(self.timer() * 1000)
        window = self.duration * 1000
        member = f"{now}:{os.getpid()}:{next(_sequence)}"
        try:
            oldest = _sliding_window()(
                keys=[redis_client.key("throttle", self.key)],
                args=[now, window, self.num_requests, member],
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            if not self.fails_open:
                raise
            logger.warning("throttle %s not counted: Redis is unreachable", self.scope)
            return True
        self.retry_after = 0 if oldest < 0 else (oldest + window - now) / 1000
        return oldest < 0

    def wait(self):
        return math.ceil(self.retry_after) or None

    def get_rate(self):
        # Read the rates at request time so settings overrides (tests, env) take effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class UserWriteThrottle(_Switchable):
    """Per signed-in user, for every write; reads are not counted."""

    scope = "user_write"
    # A flood guard, not a security boundary: during a Redis outage people keep writing
    # (their messages are in PostgreSQL; sockets catch up when Redis is back).
    fails_open = True

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class _PerIpThrottle(_Switchable):
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterThrottle(_PerIpThrottle):
    scope = "register"


class TokenThrottle(_PerIpThrottle):
    scope = "token"


class LoginThrottle(TokenThrottle):
    """Every password check shares the token budget of the address it comes from: the API's
    token endpoint, the web sign-in, the browsable API's and Django admin's. It fails
    closed: an outage must not open a window for guessing passwords."""


def throttled(*classes: type[_Switchable]):
    """The same throttles for a Django view (the web pages, admin's login) as for the API's
    views: a request that is not a read counts against each of `classes`, with the same
    keys and windows, and past any of them gets the 429 page with `Retry-After`."""

    def decorate(view):
        @functools.wraps(view)
        def throttled_view(request, *args, **kwargs):
            if request.method not in SAFE_METHODS:
                for throttle_class in classes:
                    throttle = throttle_class()
                    # DRF's throttles read only the request's META, method and user,
                    # which a Django request has too.
                    if not throttle.allow_request(request, None):
                        return too_many_requests(request, throttle.wait())
            return view(request, *args, **kwargs)

        return throttled_view

    return decorate


def too_many_requests(request, wait: float | None) -> HttpResponse:
    seconds = max(1, math.ceil(wait or 1))
    response = render(request, "429.html", {"seconds": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response

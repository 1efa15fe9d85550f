"""Throttles of SPEC section 3, switched off as a whole by `THROTTLES=off`.

DRF throttles count in the cache (Redis here) without atomicity: good enough to slow a
script down, not a security boundary. Rates live in REST_FRAMEWORK's
DEFAULT_THROTTLE_RATES, overridable from the environment.
"""

from django.conf import settings
from rest_framework import throttling
from rest_framework.settings import api_settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Switchable:
    def allow_request(self, request, view):
        if not settings.THROTTLES_ENABLED:
            return True
        return super().allow_request(request, view)

    def get_rate(self):
        # Read the rates at request time so settings overrides (tests, env) take effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class UserWriteThrottle(_Switchable, throttling.SimpleRateThrottle):
    """Per signed-in user, for every write; reads are not counted."""

    scope = "user_write"

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class _PerIpThrottle(_Switchable, throttling.SimpleRateThrottle):
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterThrottle(_PerIpThrottle):
    scope = "register"


class TokenThrottle(_PerIpThrottle):
    scope = "token"

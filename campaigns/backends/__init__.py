"""Pluggable SMS providers, chosen by SMS_BACKEND like Django's email backends."""

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseBackend, OutboundSms, Pace, PermanentError, TransientError

__all__ = [
    "BaseBackend",
    "OutboundSms",
    "Pace",
    "PermanentError",
    "TransientError",
    "get_backend",
]


_backends: dict[tuple, BaseBackend] = {}


def get_backend() -> BaseBackend:
    """The configured backend, made once per process and settings.

    Building one can be slow (an HTTP backend creates its opener and TLS context); that
    must happen before a message's grant from the limiter, never between grant and send.
    """
    key = (settings.SMS_BACKEND, settings.SMS_HTTP_URL, settings.SMS_HTTP_TOKEN)
    if key not in _backends:
        _backends[key] = import_string(settings.SMS_BACKEND)()
    return _backends[key]

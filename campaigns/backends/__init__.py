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
# What a backend reads when it is made: another value makes another backend.
SETTINGS = (
    "SMS_BACKEND",
    "SMS_HTTP_URL",
    "SMS_HTTP_TOKEN",
    "SMS_HTTP_TIMEOUT",
    "SMS_CALLBACK_BASE_URL",
    "KANNEL_SENDSMS_URL",
    "KANNEL_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_URL",
)


def get_backend() -> BaseBackend:
    """The configured backend, made once per process and settings.

    Building one can be slow (an HTTP backend creates its opener and TLS context); that
    must happen before a message's grant from the limiter, never between grant and send.
    """
    key = tuple(getattr(settings, name) for name in SETTINGS)
    if key not in _backends:
        _backends[key] = import_string(settings.SMS_BACKEND)()
    return _backends[key]

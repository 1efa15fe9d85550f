"""Pluggable SMS providers, chosen by SMS_BACKEND like Django's email backends."""

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseBackend, OutboundSms, PermanentError, TransientError

__all__ = ["BaseBackend", "OutboundSms", "PermanentError", "TransientError", "get_backend"]


def get_backend() -> BaseBackend:
    return import_string(settings.SMS_BACKEND)()

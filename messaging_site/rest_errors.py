"""REST's answer to the domain errors of messaging_site.errors: DRF's usual responses."""

import logging
import sys

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError, Invalid, RateLimited


def exception_handler(exc, context):
    """DRF's handler, taught our domain errors.

    Field errors keep DRF's shape (`{"field": ["..."]}`); everything else is
    `{"detail": "...", "code": "..."}` so clients can tell `blocked` from other 403s.
    """
    if isinstance(exc, Invalid) and exc.fields:
        return Response(exc.fields, status=exc.status_code)
    if isinstance(exc, DomainError):
        headers = {}
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return Response(
            {"detail": exc.message, "code": exc.code}, status=exc.status_code, headers=headers
        )
    response = drf_exception_handler(exc, context)
    if (
        response is not None
        and isinstance(response.data, dict)
        and set(response.data) == {"detail"}
    ):
        response.data["code"] = getattr(response.data["detail"], "code", None) or "error"
    return response


def not_found(request, exception):
    """Django's 404 (no URL matched: a word where an id goes, an id past 64 bits) as REST's
    JSON under /api/, the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)


logger = logging.getLogger(__name__)

# What a request meets while PostgreSQL or Redis is down or restarting: not a bug of
# ours, and over in seconds, so the answer is 503 with Retry-After, not 500.
UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
RETRY_AFTER_SECONDS = 2


def server_error(request):
    """Django's 500, except that an unreachable database or Redis is a 503 (JSON under
    /api/, a page elsewhere) that tells the client to come back shortly."""
    error = sys.exc_info()[1]  # Django calls handler500 inside its `except`
    if not isinstance(error, UNAVAILABLE):
        return django_server_error(request)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Temporarily unavailable; try again shortly.", "code": "unavailable"},
            status=503,
            headers=headers,
        )
    # Not base.html: its navigation reads the session, from the database that is down.
    body = loader.render_to_string("503.html", {"seconds": RETRY_AFTER_SECONDS})
    return HttpResponse(body, status=503, headers=headers)

"""Domain errors, raised by services and selectors, mapped once per interface.

REST maps them in `exception_handler` below; the WebSocket consumer maps them to the error
frame `{"action":"error","code":...}`. Services never raise DRF or HTTP exceptions, so a
Celery task or an admin action calling them needs no web machinery.
"""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class DomainError(Exception):
    """Base of every error a service may raise on purpose."""

    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "Invalid request."

    def __init__(self, message: str | None = None, *, code: str | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        super().__init__(self.message)


class Invalid(DomainError):
    """Bad input. `fields` maps field names to messages, as DRF's ValidationError does."""

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None):
        self.fields = fields or {}
        if message is None and self.fields:
            message = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.fields.items())
        super().__init__(message)


class NotFound(DomainError):
    """Absent, or not visible to the acting user: the two look the same on purpose."""

    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_message = "Not found."


class Forbidden(DomainError):
    code = "forbidden"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "You do not have permission to do this."


class Blocked(Forbidden):
    code = "blocked"
    default_message = "One of you blocks the other."


class Conflict(DomainError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    default_message = "This conflicts with the current state."


class RateLimited(DomainError):
    code = "rate_limited"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


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

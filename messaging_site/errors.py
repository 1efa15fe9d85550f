"""Domain errors, raised by services and selectors, mapped once per interface.

REST maps them in messaging_site.rest_errors; the WebSocket consumer maps them to the
error frame `{"action":"error","code":...}`. Services never raise DRF or HTTP exceptions,
and this module knows nothing of either, so a Celery task or an admin action calling
them needs no web machinery. `status_code` is the HTTP status REST answers with.
"""

from http import HTTPStatus


class DomainError(Exception):
    """Base of every error a service may raise on purpose."""

    code = "invalid"
    status_code: int = HTTPStatus.BAD_REQUEST
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
    status_code = HTTPStatus.NOT_FOUND
    default_message = "Not found."


class Forbidden(DomainError):
    code = "forbidden"
    status_code = HTTPStatus.FORBIDDEN
    default_message = "You do not have permission to do this."


class Blocked(Forbidden):
    code = "blocked"
    default_message = "One of you blocks the other."


class Conflict(DomainError):
    code = "conflict"
    status_code = HTTPStatus.CONFLICT
    default_message = "This conflicts with the current state."


class RateLimited(DomainError):
    code = "rate_limited"
    status_code = HTTPStatus.TOO_MANY_REQUESTS
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)

"""Log lines (SPEC section 15): one JSON object per line with LOG_FORMAT=json (production's
default), readable lines otherwise; both through structlog's formatter for the standard
library's records, so every logger of Django, Daphne, Celery and ours comes out alike.

Each line carries the ids of what it is about, bound once where they become known and
carried by context variables into every line logged meanwhile, across the threads the
database calls run on: `request_id` and `user_id` for a request (RequestContext),
`connection_id` and `user_id` for a socket and `conversation_id` for a frame
(messaging_site.consumers), `task_id` for a Celery task (messaging_site.celery),
`sms_id` and `campaign_id` for an attempt (campaigns.sending).

What a line may carry is listed (EXTRA): a record's other attributes never reach the
output, since some hold what must never be logged. Django's `django.request` records
carry the request itself, whose repr shows the query string, where a WebSocket token
may be. No line carries a token, a password or a message body (tests/test_logs.py reads a
whole run's lines for them).
"""

import logging
import logging.config
import re
import uuid
from collections.abc import Callable

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

__all__ = ["RequestContext", "bind", "bound", "formatter", "new_context"]

# What `extra={...}` may add to a line; anything else a record carries is left out.
EXTRA = (
    "status_code",
    "sms_id",
    "campaign_id",
    "conversation_id",
    "user_id",
    "attempt",
    "segments",
    "outcome",
    "latency_ms",
    "limiter_wait_ms",
    "limiter_asked",
    "write_ms",
    "backend",
    "error",
    # Daphne's access log (messaging_site.server.AccessLog): the path without its query.
    "client",
    "method",
    "path",
    "status",
    "size",
)

bind = bind_contextvars
bound = bound_contextvars
new_context = clear_contextvars


def configure(config: dict) -> None:
    """settings.LOGGING_CONFIG: Django's dictConfig, and Python's warnings (Celery's, a
    library's deprecations) as log records, so that they are lines like any other."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def formatter(style: str = "plain") -> logging.Formatter:
    """settings.LOGGING's formatter: `json` or `plain`."""
    pre_chain: list[Callable] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(allow=EXTRA),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    ]
    if style == "json":
        processors: list[Callable] = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
    elif style == "plain":
        processors = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Python's own traceback: structlog would render one with rich where it is
            # installed, local variables and all, which takes the event loop for as long
            # as that takes (a socket's catch-up after an outage waited seconds behind a
            # logged traceback: `make reliability`, redis-pause-sockets) and would print
            # whatever the frames hold.
            structlog.dev.ConsoleRenderer(
                colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
            ),
        ]
    else:
        raise ValueError(f"LOG_FORMAT must be json or plain, not {style!r}")
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=pre_chain, processors=processors)


# A client's own request id is kept when it looks like one (a proxy's, a client's retry),
# so its lines can be found by it; anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestContext:
    """After AuthenticationMiddleware: a request's lines carry its id (X-Request-ID, echoed
    in the response) and, once known, its user's (a session's here; a token's when DRF
    authenticates it: accounts.authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The thread that serves this request served others before: nothing of theirs.
        new_context()
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        bind(request_id=request_id)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            bind(user_id=user.pk)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

"""Filters for the log handlers (settings.LOGGING)."""

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """A 4xx logged by `django.request` (a 403 for a page someone may not open, a 404) is an
    answer, not a failure: one line, without the traceback of the exception that made it.
    5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True

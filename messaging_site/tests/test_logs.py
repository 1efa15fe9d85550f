"""messaging_site/logs.py's formatters, on records made here."""

import json
import logging
import sys

import pytest

from messaging_site import logs


def _record_with_a_traceback() -> logging.LogRecord:
    secret = "s3cr3t-in-a-local"  # noqa: F841 - what a traceback with locals would show
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        return logging.LogRecord(
            "messaging_site.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )


@pytest.mark.parametrize("style", ["plain", "json"])
def test_a_traceback_is_pythons_own_without_local_variables(style):
    """structlog would render one with rich where rich is installed (it is, through the
    dev tools), locals included: slow enough to hold the event loop, and it prints what
    the frames hold."""
    text = logs.formatter(style).format(_record_with_a_traceback())
    assert "RuntimeError: boom" in text
    assert "Traceback (most recent call last)" in text
    assert "s3cr3t-in-a-local" not in text
    if style == "json":
        assert json.loads(text)["event"] == "failed"


def test_only_the_listed_extra_fields_reach_a_line():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found", (), None
    )
    record.status_code = 404
    record.request = "<WSGIRequest: GET '/ws/?token=abc'>"  # as Django's records carry it
    line = json.loads(logs.formatter("json").format(record))
    assert line["status_code"] == 404
    assert "request" not in line
    assert "token=abc" not in json.dumps(line)

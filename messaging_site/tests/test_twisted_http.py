"""The cache on Twisted's Content-Type parsing answers as Twisted's own function does."""

from twisted.web import http

import messaging_site.asgi  # noqa: F401 - installs it


def test_the_cached_parser_is_installed_and_answers_as_twisted_does():
    parse = http._parseContentType
    original = parse.__wrapped__
    values = [
        b"application/json",
        b"Application/JSON; charset=utf-8",
        b"multipart/form-data; boundary=----x",
        b"application/x-www-form-urlencoded",
        b"not a type",
        b"",
    ]
    for value in values * 2:
        assert parse(value) == original(value)
    assert parse(b"Application/JSON; charset=utf-8") == b"application/json"
    assert parse.cache_info().hits >= len(values)

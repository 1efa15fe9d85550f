"""A bounded cache on Twisted's Content-Type parsing, which Daphne's HTTP runs on.

For every POST, Twisted parses the Content-Type header with the `email` package (a new
`EmailMessage` each time) only to see whether the body is a form that it should parse for
its own `request.args`, which Daphne never reads. That was 4.8% of a REST send's server
CPU (py-spy; docs/PERFORMANCE.md, "REST send"). The function maps header bytes to bytes,
with no other input and no side effect, and clients send a handful of distinct values,
so its answers are remembered. `messaging_site.asgi` installs it.
"""

import functools

from twisted.web import http

__all__ = ["install"]


def install() -> None:
    parse = http._parseContentType
    if not hasattr(parse, "cache_info"):
        http._parseContentType = functools.lru_cache(maxsize=256)(parse)

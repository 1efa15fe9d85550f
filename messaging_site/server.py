"""Daphne as the product runs it: `python -m messaging_site.server` takes Daphne's own
arguments (scripts/serve.py builds them).

Two changes to Daphne's server. Twisted parses every multipart POST body into its own
`request.args` before Daphne hands the body to Django, which parses it again: for one
25 MiB upload that held the reactor, and every socket of the process with it, for 1.15 s
and took 288 MiB (docs/ARCHITECTURE.md, "Framework internals"), and a malformed body got
Twisted's bare 400, without headers, instead of the API's error. Requests here are made
with Twisted's own switch for that off (`parsePOSTFormSubmission=False`), and refuse a
body larger than any path accepts as it arrives (SiteRequest).

The other: a WebSocket protocol error from a client (a text frame that
is not UTF-8, a bad opcode) fails the connection with a close frame, 1007 or 1002, as
RFC 6455 section 7.1.7 asks. Autobahn's default, which Daphne keeps, drops the TCP
connection instead, which a client cannot tell from a network fault, so it reconnects and
sends the same bytes again (docs/PROTOCOL.md, "When the server fails").
"""

import logging
import sys
from collections.abc import Callable

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings
from twisted.internet import reactor
from twisted.web import http

from .asgi_limits import MULTIPART_ALLOWANCE, too_large_body

__all__ = ["CommandLine", "SiteServer"]


LINGER_SECONDS = 5


def _largest_body() -> int:
    """The most any request may bring: the largest of the paths' limits in
    messaging_site/asgi.py (uploads, a campaign's recipients; 1 MiB elsewhere)."""
    return max(settings.UPLOAD_MAX_BYTES, settings.CAMPAIGN_MAX_BYTES) + MULTIPART_ALLOWANCE


class SiteRequest(WebRequest):
    """Twisted stores a whole body (on disk past 100 KB) before Daphne passes any of it on,
    so the ASGI body limit alone would answer 413 only once the server held everything a
    client chose to send, gigabytes included. This refuses at the declared length, or as
    soon as a body without one passes the largest any path accepts, and drops the rest."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)
        self.received = 0
        self.refused = False

    def gotLength(self, length):
        if length is not None and length > _largest_body():
            super().gotLength(0)
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.received += len(data)
        if self.received > _largest_body():
            self._refuse()
            return
        super().handleContentChunk(data)

    def _refuse(self) -> None:
        self.refused = True
        body = too_large_body(_largest_body())
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        # Closed at once, a socket with unread bytes sends a reset, and the client may
        # lose the answer with it. Half-closed, the client reads it; what it still sends
        # is read and dropped (above) until it stops, or LINGER_SECONDS have passed.
        transport.loseWriteConnection()
        reactor.callLater(LINGER_SECONDS, transport.abortConnection)  # type: ignore[arg-type]  # zope stubs: no self

    def requestReceived(self, command, path, version):
        if not self.refused:
            super().requestReceived(command, path, version)

    def connectionLost(self, reason):
        if self.refused:
            # Daphne never knew of this request: nothing of its to clean up.
            http.Request.connectionLost(self, reason)
            return
        super().connectionLost(reason)


class SiteHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        if protocol is not None:  # Daphne logs and returns None when it cannot build one
            protocol.requestFactory = SiteRequest
        return protocol


class AccessLog:
    """Daphne's access log, with no query string: Daphne writes a request's whole URI, and
    callbacks carry secrets there (Kannel's `dlr-url`, its inbound `get-url` the text
    itself). With LOG_FORMAT=json each entry is a log record, as every other line is
    (messaging_site/logs.py); otherwise Daphne's own NCSA-style line."""

    def __init__(self, plain: Callable[[str, str, dict], None]):
        self.plain = plain

    def __call__(self, protocol: str, action: str, details: dict) -> None:
        details = {**details, "path": details.get("path", "").split("?", 1)[0]}
        if settings.LOG_FORMAT != "json":
            self.plain(protocol, action, details)
            return
        access_logger.info(
            "%s %s",
            protocol,
            action,
            extra={
                key: details[key]
                for key in ("client", "method", "path", "status", "size")
                if key in details
            },
        )


access_logger = logging.getLogger("daphne.access")


class SiteServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs):
        super().__init__(
            *args, action_logger=AccessLog(action_logger) if action_logger else None, **kwargs
        )

    # Server.run makes its factory with `self.http_factory = HTTPFactory(self)` and
    # listens with it at once: the assignment is where ours can take its place.
    @property
    def http_factory(self) -> HTTPFactory:
        return self._site_http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._site_http_factory = SiteHTTPFactory(self)

    def listen_success(self, port):
        # Daphne makes its WebSocket factory in run(), before it listens and so before any
        # connection: every protocol built from it inherits the option.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        super().listen_success(port)


class CommandLine(CommandLineInterface):
    server_class = SiteServer


if __name__ == "__main__":
    sys.exit(CommandLine.entrypoint())

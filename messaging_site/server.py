"""Daphne as the product runs it: `python -m messaging_site.server` takes Daphne's own
arguments (scripts/serve.py builds them).

Two changes to Daphne's server. Twisted parses every multipart POST body into its own
`request.args` before Daphne hands the body to Django, which parses it again: for one
25 MiB upload that held the reactor, and every socket of the process with it, for 1.15 s
and took 288 MiB (docs/ARCHITECTURE.md, "Framework internals"), and a malformed body got
Twisted's bare 400, without headers, instead of the API's error. Requests here are made
with Twisted's own switch for that off (`parsePOSTFormSubmission=False`).

The other: a WebSocket protocol error from a client (a text frame that
is not UTF-8, a bad opcode) fails the connection with a close frame, 1007 or 1002, as
RFC 6455 section 7.1.7 asks. Autobahn's default, which Daphne keeps, drops the TCP
connection instead, which a client cannot tell from a network fault, so it reconnects and
sends the same bytes again (docs/PROTOCOL.md, "When the server fails").
"""

import sys

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server

__all__ = ["CommandLine", "SiteServer"]


class SiteRequest(WebRequest):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)


class SiteHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        if protocol is not None:  # Daphne logs and returns None when it cannot build one
            protocol.requestFactory = SiteRequest
        return protocol


class SiteServer(Server):
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

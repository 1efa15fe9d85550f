"""Daphne as the product runs it: `python -m messaging_site.server` takes Daphne's own
arguments (scripts/serve.py builds them).

One change to Daphne's server: a WebSocket protocol error from a client (a text frame that
is not UTF-8, a bad opcode) fails the connection with a close frame, 1007 or 1002, as
RFC 6455 section 7.1.7 asks. Autobahn's default, which Daphne keeps, drops the TCP
connection instead, which a client cannot tell from a network fault, so it reconnects and
sends the same bytes again (docs/PROTOCOL.md, "When the server fails").
"""

import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server

__all__ = ["CommandLine", "SiteServer"]


class SiteServer(Server):
    def listen_success(self, port):
        # Daphne makes its WebSocket factory in run(), before it listens and so before any
        # connection: every protocol built from it inherits the option.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        super().listen_success(port)


class CommandLine(CommandLineInterface):
    server_class = SiteServer


if __name__ == "__main__":
    sys.exit(CommandLine.entrypoint())

"""Guards on the framework internals docs/ARCHITECTURE.md lists ("Framework internals this
code leans on"): each fails when the framework code a kept internal was written against
changes, so an upgrade re-reads it instead of silently running a stale copy."""

import hashlib
import inspect

from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server as DaphneServer
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.base import BaseHandler
from twisted.web.http import Request as TwistedRequest

from messaging_site.http import ASGIHandler

# messaging_site/http.py re-writes Django's `__call__` and `handle` (the request as one
# call on a long-lived thread) and calls the rest as Django's `handle` does. Written
# against Django 6.1.3. If one of these changes, compare Django's new code with ours,
# carry the change over, then update the digest.
DJANGO_CODE = {
    DjangoASGIHandler.__call__: "f756809e9c9308dc",
    DjangoASGIHandler.handle: "c91f27c7fcdc3fff",
    DjangoASGIHandler.read_body: "88b4e284fc829700",
    DjangoASGIHandler.create_request: "5eae59c6696013ff",
    DjangoASGIHandler.send_response: "d91e83d2c6859eda",
    DjangoASGIHandler.listen_for_disconnect: "c729aa315c734f98",
    BaseHandler.load_middleware: "b75c13d1041e06d9",
    BaseHandler.get_response: "3d6a79b124c2cccb",
}


def _digest(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_django_code_the_http_handler_copies_is_unchanged():
    changed = [f.__qualname__ for f, digest in DJANGO_CODE.items() if _digest(f) != digest]
    assert changed == [], (
        f"Django changed {changed}: re-read messaging_site/http.py against it "
        "(docs/ARCHITECTURE.md, 'Framework internals')"
    )


def test_the_http_handler_builds_a_synchronous_middleware_chain():
    handler = ASGIHandler()
    assert handler._middleware_chain is not None
    assert not inspect.iscoroutinefunction(handler._middleware_chain)
    assert DjangoASGIHandler.chunk_size == 2**16


# messaging_site/server.py puts its own HTTP factory where Daphne's `Server.run` assigns
# `self.http_factory`, and sets `requestFactory` after `HTTPFactory.buildProtocol`, as
# Daphne 4.2.1 does; Twisted's Request takes `parsePOSTFormSubmission`. Behaviour:
# tests/test_e2e_daphne.py::test_uploads_up_to_their_own_limit_pass_the_body_limit (a
# malformed multipart body gets the API's answer, not Twisted's bare 400).
DAPHNE_CODE = {
    DaphneServer.run: "447c6bd42c62e98c",
    HTTPFactory.buildProtocol: "35e878a6e0e41af2",
    WebRequest.__init__: "ec85d9f2a762a39f",
}


def test_daphne_code_the_server_leans_on_is_unchanged():
    changed = [f.__qualname__ for f, digest in DAPHNE_CODE.items() if _digest(f) != digest]
    assert changed == [], (
        f"Daphne changed {changed}: re-read messaging_site/server.py against it "
        "(docs/ARCHITECTURE.md, 'Framework internals')"
    )
    assert "parsePOSTFormSubmission" in inspect.signature(TwistedRequest.__init__).parameters

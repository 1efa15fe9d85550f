"""Errors to Sentry when SENTRY_DSN is set (SPEC section 15): a real Daphne reports an error
to a stand-in for Sentry's ingest endpoint (no Sentry is reachable here), and what it
sends carries nothing of the request's token, query string or cookies."""

import gzip
import http.server
import threading
import time
import urllib.error
import urllib.request
import zlib

import pytest

try:  # sentry-sdk compresses with brotli where it is installed (the bench's extras have it)
    import brotli
except ImportError:
    brotli = None

from conftest import _daphne, _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Ingest(http.server.ThreadingHTTPServer):
    """Keeps each envelope POSTed to it, decompressed."""

    def __init__(self):
        self.envelopes: list[str] = []
        super().__init__(("127.0.0.1", 0), _Envelope)


class _Envelope(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br" and brotli is not None:
            body = brotli.decompress(body)
        self.server.envelopes.append(body.decode(errors="replace"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_error_reaches_sentry_without_the_requests_secrets():
    ingest = Ingest()
    threading.Thread(target=ingest.serve_forever, daemon=True).start()
    secrets = {"query": "s3cr3tquery0123", "token": "s3cr3ttoken0123", "cookie": "s3cr3tcookie0123"}
    try:
        # A database that is not there: the request's session and /healthz's check fail
        # on it, and Sentry's integrations report the OperationalError.
        with _daphne(
            "sentry-web",
            SENTRY_DSN=f"http://publickey@127.0.0.1:{ingest.server_address[1]}/1",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:{_free_port()}/nowhere",
            DATABASE_POOL="off",
        ) as (address, _):
            request = urllib.request.Request(
                f"http://{address}/healthz?token={secrets['query']}",
                headers={
                    "Authorization": f"Token {secrets['token']}",
                    "Cookie": f"sessionid={secrets['cookie']}",
                },
            )
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=10)  # noqa: S310 - http only
            assert answer.value.code == 503
            deadline = time.monotonic() + 15
            while not any('"OperationalError"' in e for e in ingest.envelopes):
                assert time.monotonic() < deadline, ingest.envelopes
                time.sleep(0.1)
    finally:
        ingest.shutdown()
    for envelope in ingest.envelopes:
        for name, secret in secrets.items():
            assert secret not in envelope, (name, envelope)

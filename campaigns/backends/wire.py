"""One persistent HTTP connection per worker thread to a provider, with the limiter's
`Pace` around the moment the request is written (campaigns/backends/base.py).

Every backend that speaks HTTP (the JSON one, Kannel's sendsms, Twilio's API) goes
through `PacedHttp.request`: a new TCP (and TLS) handshake per message would cost far
more than the message, and would add its variable delay between the limiter's grant and
the arrival, which is what the limiter's guard has to absorb.
"""

import http.client
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .base import Pace


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def text(self, limit: int = 500) -> str:
        return self.body[:limit].decode(errors="replace")


class PacedHttp:
    """Requests to one origin (scheme, host, port) on a kept-alive connection per
    thread. Raises OSError or http.client.HTTPException when the exchange fails; the
    connection is then dropped and the next request opens a new one."""

    def __init__(self, url: str, *, timeout: float, setting: str):
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ImproperlyConfigured(f"{setting} must be an http:// or https:// URL.")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        # The URL's own path and query, for callers that post to it as it is.
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        # Made now, not at the first send: creating the TLS context takes ~100 ms.
        self.tls = ssl.create_default_context() if self.scheme == "https" else None
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            if self.tls is not None:
                connection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self.tls
                )
            else:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.local.connection = connection
        return connection

    def drop(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
        self.local.connection = None

    def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, pace: Pace
    ) -> http.client.HTTPResponse:
        connection = self._connection()
        if connection.sock is None:
            connection.connect()  # the handshake is not part of the departure
        # Everything but the writes happens before `ready()`: `endheaders` sends the
        # buffered head, then the body (TCP_NODELAY: no wait between them).
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        try:
            pace.ready()
        except BaseException:
            self.drop()  # it holds a request that will never be finished
            raise
        try:
            connection.endheaders(body)
        finally:
            pace.left()
        return connection.getresponse()

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, pace: Pace
    ) -> http.client.HTTPResponse:
        reused = getattr(self.local, "connection", None) is not None
        try:
            return self._exchange(method, path, headers, body, pace)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.drop()
            if not reused:
                raise
        # The provider closed an idle keep-alive connection before reading: once more, on
        # a fresh one, in a slot of its own (the provider may have read the first after
        # all; the message's reference dedupes it).
        return self._exchange(method, path, headers, body, pace)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        pace: Pace,
    ) -> Answer:
        try:
            response = self._send(method, path, headers, body, pace)
            answer = Answer(response.status, response.headers, response.read())
        except (OSError, http.client.HTTPException):
            self.drop()
            raise
        if answer.header("Connection").lower() == "close":
            self.drop()
        return answer

"""A JSON-over-HTTP provider (README, "Configuration": `SMS_BACKEND`).

POST SMS_HTTP_URL with `{"to","from","body","segments","reference"}` and an optional
bearer token. 2xx with `{"id"}` is accepted; 429 and 5xx and timeouts are transient
(honouring `Retry-After`); any other 4xx is permanent.

Each worker keeps one persistent connection to the provider: a new TCP (and TLS)
handshake per message would cost far more than the message, and would add its variable
delay between the limiter's grant and the arrival, which is what the limiter's guard
has to absorb.
"""

import http.client
import json
import ssl
import threading
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from .base import BaseBackend, OutboundSms, Pace, PermanentError, TransientError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds, or an HTTP date (RFC 9110), as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


class HttpBackend(BaseBackend):
    def __init__(self):
        url = urlsplit(settings.SMS_HTTP_URL)
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise ImproperlyConfigured("SMS_HTTP_URL must be an http:// or https:// URL.")
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port
        self.path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self.timeout = settings.SMS_HTTP_TIMEOUT
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.SMS_HTTP_TOKEN:
            self.headers["Authorization"] = f"Bearer {settings.SMS_HTTP_TOKEN}"
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

    def _drop_connection(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
        self.local.connection = None

    def _request(self, payload: bytes, pace: Pace) -> http.client.HTTPResponse:
        connection = self._connection()
        if connection.sock is None:
            connection.connect()  # the handshake is not part of the departure
        # Everything but the writes happens before `ready()`: `endheaders` sends the
        # buffered head, then the body (TCP_NODELAY: no wait between them).
        connection.putrequest("POST", self.path, skip_accept_encoding=True)
        for name, value in self.headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(payload)))
        try:
            pace.ready()
        except BaseException:
            self._drop_connection()  # it holds a request that will never be finished
            raise
        try:
            connection.endheaders(payload)
        finally:
            pace.left()
        return connection.getresponse()

    def _post(self, payload: bytes, pace: Pace) -> http.client.HTTPResponse:
        reused = getattr(self.local, "connection", None) is not None
        try:
            return self._request(payload, pace)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self._drop_connection()
            if not reused:
                raise
        # The provider closed an idle keep-alive connection before reading: once more, on
        # a fresh one, in a slot of its own (the provider may have read the first after
        # all; `reference` dedupes it).
        return self._request(payload, pace)

    def send(self, sms: OutboundSms, pace: Pace) -> str:
        payload = json.dumps(
            {
                "to": sms.to,
                "from": sms.sender,
                "body": sms.body,
                "segments": sms.segments,
                "reference": sms.reference,
            }
        ).encode()
        try:
            response = self._post(payload, pace)
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._drop_connection()
            raise TransientError(f"{type(error).__name__}: {error}") from error
        if response.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        if response.status == 429 or response.status >= 500:
            raise TransientError(
                f"HTTP {response.status}: {body[:500].decode(errors='replace')}",
                retry_after=parse_retry_after(response.getheader("Retry-After")),
            )
        if response.status >= 400:
            raise PermanentError(f"HTTP {response.status}: {body[:500].decode(errors='replace')}")
        try:
            return str(json.loads(body)["id"])
        except (ValueError, KeyError, TypeError):
            # Accepted but unreadable: it was sent, so it must never be sent again.
            return f"unparsed:{body[:60]!r}"

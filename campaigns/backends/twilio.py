"""Twilio's Messages API (SPEC section 14), through the official `twilio` package.

One `client.messages.create` per text, however long: Twilio splits a long body into
concatenated segments itself, so the limiter's reservation of the text's segments covers
every part. The sender is TWILIO_FROM (a number of the account) or
TWILIO_MESSAGING_SERVICE_SID (Twilio picks one of the service's senders), exactly one of
them; `OutboundSms.sender` is not Twilio's to use. Every text asks for a StatusCallback at
`$SMS_CALLBACK_BASE_URL/api/sms/dlr/twilio/?reference=<our reference>`; Twilio signs those
calls (campaigns.permissions.TwilioSignature).

The package's Client builds the request (its URL, form body, headers and basic auth with
TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); `PacedHttpClient` sends it on a kept-alive
connection per thread (backends/wire.py), with the message's `Pace` around the write, to
TWILIO_API_URL's origin in place of the host the Client names.

Twilio answers 201 with the Message (its `sid` is returned); 429, 5xx and timeouts are
transient (honouring `Retry-After`), any other 4xx is permanent, with Twilio's error code
and message (21211 an invalid 'To' number, 21610 a recipient who replied STOP to Twilio...).

Twilio's Messages API takes no idempotency key and keeps no reference of ours, so it
cannot drop the duplicate a crash between its answer and our write would cause; that
window is the time of one UPDATE, as for Kannel. The same goes for the one resend
PacedHttp makes when a kept-alive connection turns out closed (reset, or closed with no
answer): it is a duplicate only if Twilio read the request before closing, where a server
closing an idle connection has read nothing.
"""

import base64
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from .base import BaseBackend, OutboundSms, Pace, PermanentError
from .http import paced_request, raise_for_status
from .wire import Answer, PacedHttp

logger = logging.getLogger(__name__)

DLR_PATH = "/api/sms/dlr/twilio/"
# Twilio's MessageStatus values that are final. The others (accepted, scheduled, queued,
# sending, sent, receiving, received, read, canceled...) say nothing of the handset.
FINAL_STATUSES = {"delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered"}


def report_status(message_status: str) -> str | None:
    """A StatusCallback's `MessageStatus` as a delivery status (campaigns.delivery), or
    None when it is not final."""
    return FINAL_STATUSES.get(message_status.strip().lower())


def status_callback(reference: str) -> str:
    base = settings.SMS_CALLBACK_BASE_URL.rstrip("/")
    if not base:
        raise ImproperlyConfigured(
            "SMS_CALLBACK_BASE_URL must say where Twilio reaches this service "
            f"(its status callbacks go to $SMS_CALLBACK_BASE_URL{DLR_PATH})."
        )
    return f"{base}{DLR_PATH}?{urlencode({'reference': reference})}"


def _sender() -> dict[str, str]:
    number, service = settings.TWILIO_FROM, settings.TWILIO_MESSAGING_SERVICE_SID
    if bool(number) == bool(service):
        raise ImproperlyConfigured(
            "Exactly one of TWILIO_FROM (a number of the account) and "
            "TWILIO_MESSAGING_SERVICE_SID must be set."
        )
    return {"from_": number} if number else {"messaging_service_sid": service}


class PacedHttpClient(HttpClient):
    """The twilio package's transport, through `PacedHttp`: whatever URL the Client builds,
    its path and query go to `base_url`'s origin (and under its path, if it has one).

    The form body is encoded as the package's own client (requests) encodes it; the
    Client's `auth` pair becomes a basic Authorization header. The timeout is the one
    given here, for connecting and for each read. 429 and 5xx raise TransientError here,
    where Retry-After is still at hand; every other answer goes back to the Client, which
    raises TwilioRestException for a refusal.

    Requests are made only inside `pacing(pace)`, which holds the message's pace for the
    calling thread.
    """

    def __init__(self, base_url: str, *, timeout: float):
        super().__init__(logger, is_async=False, timeout=timeout)
        self.wire = PacedHttp(base_url, timeout=timeout, setting="TWILIO_API_URL")
        self.prefix = self.wire.path.partition("?")[0].rstrip("/")
        self.local = threading.local()

    @contextmanager
    def pacing(self, pace: Pace) -> Iterator[None]:
        self.local.pace, self.local.answer = pace, None
        try:
            yield
        finally:
            self.local.pace = None

    def last_answer(self) -> Answer | None:
        """What the provider last answered this thread's current message, if it did."""
        return getattr(self.local, "answer", None)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        pace = getattr(self.local, "pace", None)
        if pace is None:
            raise RuntimeError("A Twilio request goes out only for a message, in pacing().")
        url = urlsplit(uri)
        query = "&".join(part for part in (url.query, urlencode(params or {}, doseq=True)) if part)
        path = f"{self.prefix}{url.path}" + (f"?{query}" if query else "")
        sent_headers = dict(headers or {})
        if auth is not None:
            credentials = f"{auth[0]}:{auth[1]}".encode("latin-1")
            sent_headers["Authorization"] = f"Basic {base64.b64encode(credentials).decode()}"
        body = urlencode(data, doseq=True).encode("ascii") if data is not None else None
        answer = paced_request(self.wire, method, path, pace, headers=sent_headers, body=body)
        self.local.answer = answer
        if answer.status == 429 or answer.status >= 500:
            raise_for_status(answer)
        return Response(answer.status, answer.body.decode(errors="replace"), dict(answer.headers))


def _refusal(error: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(error, TwilioServiceException):
        words = f"{error.title}: {error.detail}" if error.detail else error.title
    else:
        words = error.msg
    return f"Twilio error {error.code}: {words} (HTTP {error.status})"


def _unparsed(answer: Answer) -> str:
    # Accepted but unreadable: it was sent, so it must never be sent again.
    return f"unparsed:{answer.body[:60]!r}"


class TwilioBackend(BaseBackend):
    def __init__(self):
        sid, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not sid or not token:
            raise ImproperlyConfigured("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set.")
        if not (sid.isascii() and sid.isalnum()):
            # It goes into the request's path as it is.
            raise ImproperlyConfigured("TWILIO_ACCOUNT_SID must be letters and digits (AC...).")
        self.sender = _sender()
        status_callback("0")  # refused at start, not at the first send
        self.transport = PacedHttpClient(settings.TWILIO_API_URL, timeout=settings.SMS_HTTP_TIMEOUT)
        self.wire = self.transport.wire
        client = Client(username=sid, password=token, account_sid=sid, http_client=self.transport)
        # Resolved once: the Client builds its API objects lazily, on first use.
        self.messages = client.messages

    def send(self, sms: OutboundSms, pace: Pace) -> str:
        with self.transport.pacing(pace):
            try:
                message = self.messages.create(
                    to=sms.to,
                    body=sms.body,
                    status_callback=status_callback(sms.reference),
                    **self.sender,
                )
            except (TwilioRestException, TwilioServiceException) as error:
                raise PermanentError(_refusal(error)) from error
            except (ValueError, TypeError, AttributeError):
                answer = self.transport.last_answer()
                if answer is None or not 200 <= answer.status < 300:
                    raise
                return _unparsed(answer)
        if not message.sid:
            answer = self.transport.last_answer()
            assert answer is not None  # noqa: S101 - the Client returns only what was answered
            return _unparsed(answer)
        return str(message.sid)

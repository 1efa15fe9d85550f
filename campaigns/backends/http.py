"""A JSON-over-HTTP provider (README, "Configuration": `SMS_BACKEND`).

POST SMS_HTTP_URL with `{"to","from","body","segments","reference"}` and an optional
bearer token. 2xx with `{"id"}` is accepted; 429 and 5xx and timeouts are transient
(honouring `Retry-After`); any other 4xx is permanent.

Each worker thread keeps one persistent connection to the provider (backends/wire.py).
"""

import http.client
import json
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.utils import timezone

from .base import BaseBackend, OutboundSms, Pace, PermanentError, TransientError
from .wire import Answer, PacedHttp


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


def raise_for_status(answer: Answer) -> None:
    """The rule every HTTP provider shares (SPEC section 8): 429 and 5xx are transient,
    honouring Retry-After; any other 4xx is permanent."""
    if answer.status == 429 or answer.status >= 500:
        raise TransientError(
            f"HTTP {answer.status}: {answer.text()}",
            retry_after=parse_retry_after(answer.header("Retry-After")),
        )
    if answer.status >= 400:
        raise PermanentError(f"HTTP {answer.status}: {answer.text()}")


def paced_request(wire: PacedHttp, method: str, path: str, pace: Pace, **kwargs) -> Answer:
    """`wire.request`, with a failed exchange (timeouts, resets) as transient."""
    try:
        return wire.request(method, path, pace=pace, **kwargs)
    except (OSError, http.client.HTTPException) as error:
        raise TransientError(f"{type(error).__name__}: {error}") from error


class HttpBackend(BaseBackend):
    def __init__(self):
        self.wire = PacedHttp(
            settings.SMS_HTTP_URL, timeout=settings.SMS_HTTP_TIMEOUT, setting="SMS_HTTP_URL"
        )
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.SMS_HTTP_TOKEN:
            self.headers["Authorization"] = f"Bearer {settings.SMS_HTTP_TOKEN}"

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
        answer = paced_request(
            self.wire, "POST", self.wire.path, pace, headers=self.headers, body=payload
        )
        raise_for_status(answer)
        try:
            return str(json.loads(answer.body)["id"])
        except (ValueError, KeyError, TypeError):
            # Accepted but unreadable: it was sent, so it must never be sent again.
            return f"unparsed:{answer.body[:60]!r}"

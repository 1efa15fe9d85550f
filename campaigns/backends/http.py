"""A JSON-over-HTTP provider (SPEC section 8).

POST SMS_HTTP_URL with `{"to","from","body","segments","reference"}` and an optional
bearer token. 2xx with `{"id"}` is accepted; 429 and 5xx and timeouts are transient
(honouring `Retry-After`); any other 4xx is permanent.
"""

import json
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from .base import BaseBackend, OutboundSms, PermanentError, TransientError


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
        if not settings.SMS_HTTP_URL:
            raise ImproperlyConfigured("SMS_HTTP_URL must be set for the HTTP SMS backend.")
        self.url = settings.SMS_HTTP_URL
        self.timeout = settings.SMS_HTTP_TIMEOUT
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.SMS_HTTP_TOKEN:
            self.headers["Authorization"] = f"Bearer {settings.SMS_HTTP_TOKEN}"

    def send(self, sms: OutboundSms) -> str:
        payload = json.dumps(
            {
                "to": sms.to,
                "from": sms.sender,
                "body": sms.body,
                "segments": sms.segments,
                "reference": sms.reference,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator's configured URL
            self.url, data=payload, headers=self.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as error:
            detail = f"HTTP {error.code}: {error.read(500).decode(errors='replace')}"
            if error.code == 429 or error.code >= 500:
                raise TransientError(
                    detail, retry_after=parse_retry_after(error.headers.get("Retry-After"))
                ) from error
            raise PermanentError(detail) from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TransientError(f"{type(error).__name__}: {error}") from error
        try:
            provider_id = json.loads(body)["id"]
        except (ValueError, KeyError, TypeError):
            # Accepted but unreadable: it was sent, so never send it again for this.
            return f"unparsed:{body[:60]!r}"
        return str(provider_id)

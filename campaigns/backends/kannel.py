"""Kannel, the open-source SMS gateway (SPEC section 14), over its smsbox `sendsms`
HTTP interface.

One GET per text, however long: Kannel splits it into concatenated parts itself, so the
limiter's reservation of the text's segments covers every part as the SMS centre gets
them. UCS-2 goes as `coding=2`, and the text as UTF-8 (`charset=UTF-8`) either way.
Every text asks for delivery reports (`dlr-mask`) at a `dlr-url` back to this service
that carries our reference and the deployment's KANNEL_SECRET; Kannel fills in `%d`
(the report's type) and `%A` (the SMS centre's own words, which say EXPIRED when the
text expired) when it calls it.

Kannel answers 202 "0: Accepted for delivery" (or "3: Queued for later delivery");
429, 5xx and timeouts are transient, other 4xx (a bad number, a refused login)
permanent, as for every HTTP provider. Kannel keeps no reference of ours, so it cannot
drop the duplicate a crash between its answer and our write would cause; that window is
the time of one UPDATE.
"""

from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..segments import GSM_7, encoding_of
from .base import BaseBackend, OutboundSms, Pace, PermanentError
from .http import paced_request, raise_for_status
from .wire import PacedHttp

# Kannel's report types (its dlr-mask bits): 1 delivered to the phone, 2 not delivered
# to the phone, 16 not delivered to the SMS centre. 4 (queued at the SMS centre) and
# 8 (accepted by it) say nothing final, so they are not asked for.
DLR_MASK = 1 | 2 | 16
# Characters Kannel passes through a URL untouched: anything else in the secret would be
# %-escaped, and Kannel reads %-sequences in a dlr-url as its own placeholders.
SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def report_status(kind: int, answer: str) -> str | None:
    """A Kannel report as a delivery status (campaigns.delivery), or None when it is not
    final."""
    if kind == 1:
        return "delivered"
    if kind == 2:
        # SMPP's receipt text, `id:... stat:EXPIRED ...`: Kannel types it 2 like any failure.
        return "expired" if "stat:expired" in answer.casefold() else "undelivered"
    if kind == 16:
        return "undelivered"
    return None


def secret() -> str:
    value = settings.KANNEL_SECRET
    if not value or not set(value) <= SAFE:
        raise ImproperlyConfigured(
            "KANNEL_SECRET must be set, of letters, digits and - _ . ~ only (it goes into "
            "the dlr-url Kannel fills in)."
        )
    return value


def dlr_url(reference: str) -> str:
    base = settings.SMS_CALLBACK_BASE_URL.rstrip("/")
    if not base:
        raise ImproperlyConfigured(
            "SMS_CALLBACK_BASE_URL must say where Kannel reaches this service "
            "(its delivery reports go to $SMS_CALLBACK_BASE_URL/api/sms/dlr/kannel/)."
        )
    # `type` and `answer` are Kannel's to fill in (%d, %A), so they are written raw.
    return (
        f"{base}/api/sms/dlr/kannel/?{urlencode({'secret': secret(), 'reference': reference})}"
        "&type=%d&answer=%A"
    )


class KannelBackend(BaseBackend):
    def __init__(self):
        self.wire = PacedHttp(
            settings.KANNEL_SENDSMS_URL,
            timeout=settings.SMS_HTTP_TIMEOUT,
            setting="KANNEL_SENDSMS_URL",
        )
        self.path = self.wire.path.partition("?")[0]
        secret()  # refused at start, not at the first send
        dlr_url("0")

    def send(self, sms: OutboundSms, pace: Pace) -> str:
        query = {
            "username": settings.KANNEL_USERNAME,
            "password": settings.KANNEL_PASSWORD,
            "from": sms.sender,
            "to": sms.to,
            "text": sms.body,
            "charset": "UTF-8",
            "coding": "0" if encoding_of(sms.body) == GSM_7 else "2",
            "dlr-mask": str(DLR_MASK),
            "dlr-url": dlr_url(sms.reference),
        }
        answer = paced_request(
            self.wire,
            "GET",
            f"{self.path}?{urlencode(query, quote_via=quote)}",
            pace,
            headers={"Accept": "text/plain"},
        )
        raise_for_status(answer)
        if answer.status not in (200, 202):
            raise PermanentError(f"HTTP {answer.status}: {answer.text()}")
        # Kannel names no id of its own: its reports come back by our reference.
        return f"kannel:{sms.reference}"

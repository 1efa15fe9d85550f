"""Delivery reports (SPEC section 14): what the provider later says became of a text it
accepted, per part. A text of several parts is delivered when every part is; one part
undelivered (or expired) makes it undelivered (or expired). Each part's first report is
the one kept, so a replayed or late report changes nothing twice, whichever backend
brought it (the HTTP callback here; Kannel's and Twilio's map onto the same call).
"""

import logging

from django.db import transaction
from django.utils import timezone

from messaging_site.errors import Invalid

from .models import DeliveryReport, SmsMessage

__all__ = ["STATUSES", "report"]

logger = logging.getLogger(__name__)
Delivery = SmsMessage.Delivery
STATUSES = (Delivery.DELIVERED, Delivery.UNDELIVERED, Delivery.EXPIRED)
# More parts than a text of 1,600 characters can have, however the provider splits it.
MAX_PARTS = 255


def _whole_number(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARTS:
        raise Invalid(fields={name: [f"A whole number from 1 to {MAX_PARTS}."]})
    return value


def report(
    *,
    backend: str,
    reference: str,
    status: str,
    part: int | None = None,
    parts: int | None = None,
) -> SmsMessage | None:
    """Apply one report: for part `part` of `parts` (the provider's count; ours, the
    record's segments, when it gives none), or for the whole text when no part is named.
    Returns the record as it now is, or None for a reference that names none of ours
    (logged: a provider may report texts another deployment sent). Invalid for a status
    or part that is not one."""
    if status not in STATUSES:
        raise Invalid(fields={"status": ['"delivered", "undelivered" or "expired".']})
    part = _whole_number(part, "part")
    parts = _whole_number(parts, "parts")
    record_id = int(reference) if reference.isascii() and reference.isdigit() else None
    with transaction.atomic():
        sms = (
            SmsMessage.objects.select_for_update().filter(pk=record_id).first()
            if record_id is not None and record_id < 2**63
            else None
        )
        if sms is None:
            logger.info("delivery report for unknown reference %r from %s", reference, backend)
            return None
        if sms.status not in (SmsMessage.Status.SENDING, SmsMessage.Status.SENT):
            # Never handed over by us (queued, skipped, cancelled...), or handed over and
            # then counted as failed: the report stands for nothing we sent as it is now.
            # `sending` counts: a report can come before the worker records `sent`.
            logger.info("delivery report for sms=%s, which is %s: ignored", sms.pk, sms.status)
            return sms
        total = parts or max(sms.segments, part or 1)
        if part is not None and part > total:
            raise Invalid(fields={"part": [f"Part {part} of a text of {total}."]})
        numbers = [part] if part is not None else range(1, total + 1)
        DeliveryReport.objects.bulk_create(
            [DeliveryReport(sms=sms, part=n, status=status, backend=backend) for n in numbers],
            ignore_conflicts=True,
        )
        verdict = _verdict(
            list(DeliveryReport.objects.filter(sms=sms).values_list("status", flat=True)), total
        )
        if verdict != sms.delivery_status:
            sms.delivery_status = verdict
            sms.delivered_at = timezone.now() if verdict == Delivery.DELIVERED else None
            SmsMessage.objects.filter(pk=sms.pk).update(
                delivery_status=sms.delivery_status,
                delivered_at=sms.delivered_at,
                updated_at=timezone.now(),
            )
    return sms


def _verdict(statuses: list[str], total: int) -> str:
    if Delivery.UNDELIVERED in statuses:
        return Delivery.UNDELIVERED
    if Delivery.EXPIRED in statuses:
        return Delivery.EXPIRED
    if statuses.count(Delivery.DELIVERED) >= total:
        return Delivery.DELIVERED
    return Delivery.PENDING

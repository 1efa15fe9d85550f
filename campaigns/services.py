"""Campaign and SMS rules: numbers, bodies, campaigns, opt-outs, re-queues, idempotency.

Delivery itself (claims, the limiter, retries) lives in campaigns/sending.py; reads, and
who may make them, in campaigns/selectors.py. The permission to send SMS is checked by
the entry points, with `selectors.can_send_sms`, before any of these is called.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from messaging_site import text as text_rules
from messaging_site.db import id_batches
from messaging_site.errors import Conflict, Invalid, NotFound

from . import queue, selectors
from .models import Campaign, ConsentEvent, IdempotentRequest, InboundSms, OptOut, SmsMessage
from .segments import SegmentInfo, analyze_for_sending

MAX_BODY_LENGTH = 1600
MAX_NAME_LENGTH = 100
BATCH_SIZE = 5000
Status = SmsMessage.Status


def normalize_number(value: object) -> str | None:
    """The E.164 form of a phone number, or None when it is not a valid one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value.strip(), settings.SMS_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# SPEC section 14, pasted numbers: entries are split at new lines, commas and semicolons
# only; the spaces, dots, dashes and brackets people write inside a number belong to it.
_ENTRY_SEPARATORS = re.compile(r"[\r\n,;]+")


def split_pasted(text: str) -> list[str]:
    """What someone pasted (or a CSV cell held), as its entries: `+1 (415) 555-0143` is
    one, and `+14155550101, +14155550102` two."""
    return [entry.strip() for entry in _ENTRY_SEPARATORS.split(text) if entry.strip()]


def normalize_numbers(values: object, *, field: str) -> list[str]:
    """Valid, normalised, duplicates dropped (first kept), or Invalid naming every bad entry."""
    if not isinstance(values, list | tuple) or not values:
        raise Invalid(fields={field: ["Give at least one phone number."]})
    numbers: dict[str, None] = {}
    bad: list[str] = []
    for value in values:
        number = normalize_number(value)
        if number is None:
            bad.append(f"{value!r} is not a valid phone number.")
        else:
            numbers.setdefault(number, None)
    if bad:
        raise Invalid(fields={field: bad})
    return list(numbers)


def prepare_body(message: object, *, smart_encoding: bool = False) -> tuple[str, SegmentInfo]:
    """The body to send and its segments, or Invalid for an empty or over-long message."""
    if not isinstance(message, str) or not message.strip():
        raise Invalid(fields={"message": ["A message needs some text."]})
    if len(message) > MAX_BODY_LENGTH:
        raise Invalid(fields={"message": [f"At most {MAX_BODY_LENGTH} characters."]})
    problem = text_rules.character_problem(message)
    if problem is not None:
        raise Invalid(fields={"message": [problem]})
    return analyze_for_sending(message, smart_encoding=smart_encoding)


def _records(
    numbers: list[str],
    *,
    body: str,
    segments: int,
    actor: User,
    campaign: Campaign | None = None,
) -> list[SmsMessage]:
    """Unsaved records for these numbers: `queued`, or `skipped` when opted out."""
    opted_out = selectors.opted_out(numbers)
    return [
        SmsMessage(
            campaign=campaign,
            to=number,
            body=body,
            segments=segments,
            created_by=actor,
            status=Status.SKIPPED if number in opted_out else Status.QUEUED,
            last_error="opted out" if number in opted_out else "",
        )
        for number in numbers
    ]


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- direct sends ---------------------------------------------------------------------


def sms_send(*, actor: User, message: str, to: list[str], smart_encoding: bool = False) -> dict:
    """Queue one text to each number (duplicates once, opted-out ones `skipped`).

    Raises Invalid for a bad body or any bad number; nothing is queued then.
    Returns the response body of `POST /api/sms/send/`.
    """
    body, info = prepare_body(message, smart_encoding=smart_encoding)
    numbers = normalize_numbers(to, field="to")
    with transaction.atomic():
        rows = SmsMessage.objects.bulk_create(
            _records(numbers, body=body, segments=info.segments, actor=actor)
        )
        queue.dispatch_on_commit()
    return {
        "encoding": info.encoding,
        "segments": info.segments,
        "messages": [{"id": row.pk, "to": row.to, "status": row.status} for row in rows],
    }


def idempotent(
    *,
    user: User,
    key: str | None,
    request_data: object,
    produce: Callable[[], tuple[int, dict]],
) -> tuple[int, dict]:
    """Run `produce` once per (user, Idempotency-Key); a retry gets the first answer back.

    Returns (status_code, body). The answer is stored in the same transaction as the work,
    so two racing retries cannot both do it: the loser rolls back and replays the winner.
    Reusing a key for a different request is a Conflict.
    """
    if not key:
        return produce()
    if len(key) > 100:
        raise Invalid(fields={"Idempotency-Key": ["At most 100 characters."]})
    fingerprint = hashlib.sha256(
        json.dumps(request_data, sort_keys=True, default=str).encode()
    ).hexdigest()

    def replay(stored: IdempotentRequest) -> tuple[int, dict]:
        if stored.fingerprint != fingerprint:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return stored.status_code, stored.response

    stored = IdempotentRequest.objects.filter(user=user, key=key).first()
    if stored is not None:
        return replay(stored)
    try:
        with transaction.atomic():
            status_code, body = produce()
            IdempotentRequest.objects.create(
                user=user,
                key=key,
                fingerprint=fingerprint,
                status_code=status_code,
                response=body,
            )
    except IntegrityError:
        return replay(IdempotentRequest.objects.get(user=user, key=key))
    return status_code, body


# --- campaigns ------------------------------------------------------------------------


def campaign_create(
    *, actor: User, name: str, message: str, recipients: list[str], smart_encoding: bool = False
) -> Campaign:
    """A draft campaign with one queued record per distinct recipient (opted-out ones
    `skipped`), inserted in batches. Invalid (name, message, any bad number): nothing
    written."""
    name = text_rules.clean(
        name, field="name", max_length=MAX_NAME_LENGTH, blank="A name is required."
    )
    body, info = prepare_body(message, smart_encoding=smart_encoding)
    numbers = normalize_numbers(recipients, field="recipients")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            message=message,
            body=body,
            smart_encoding=smart_encoding,
            encoding=info.encoding,
            segments_per_message=info.segments,
            created_by=actor,
        )
        for batch in _batches(numbers, BATCH_SIZE):
            SmsMessage.objects.bulk_create(
                _records(batch, body=body, segments=info.segments, actor=actor, campaign=campaign)
            )
    return campaign


def campaign_launch(*, campaign: Campaign) -> Campaign:
    """Start sending a draft (Conflict otherwise); returns the campaign as it now is.
    Records are claimed in batches by the dispatcher, so launch itself is one UPDATE
    whatever the size."""
    with transaction.atomic():
        launched = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            status=Campaign.Status.RUNNING, launched_at=timezone.now()
        )
        if not launched:
            raise Conflict("Only a draft campaign can be launched.")
        queue.dispatch_on_commit()
    return Campaign.objects.select_related("created_by").get(pk=campaign.pk)


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop a draft or running campaign: its queued records become `cancelled`. A record
    already with the provider finishes. Finished campaigns: Conflict. Returns the
    campaign as it now is."""
    with transaction.atomic():
        cancelled = Campaign.objects.filter(
            pk=campaign.pk, status__in=[Campaign.Status.DRAFT, Campaign.Status.RUNNING]
        ).update(status=Campaign.Status.CANCELLED, finished_at=timezone.now())
        if not cancelled:
            raise Conflict("This campaign has already finished.")
        SmsMessage.objects.filter(campaign=campaign, status=Status.QUEUED).update(
            status=Status.CANCELLED, dispatched_at=None, updated_at=timezone.now()
        )
    return Campaign.objects.select_related("created_by").get(pk=campaign.pk)


# --- opt-outs and re-queues -------------------------------------------------------------


def optout_add(
    *,
    number: str,
    source: str = ConsentEvent.Source.API,
    actor: User | None = None,
    inbound: InboundSms | None = None,
) -> tuple[OptOut, bool]:
    """Put a number on the opt-out list (again is harmless: nothing more is logged);
    Invalid for a bad number. The change goes to the consent log in the same transaction.
    From then on nothing is sent to it but the reply to its keyword (campaigns.sending
    checks each record as it is sent)."""
    normalized = normalize_number(number)
    if normalized is None:
        raise Invalid(fields={"number": [f"{number!r} is not a valid phone number."]})
    with transaction.atomic():
        optout, created = OptOut.objects.get_or_create(
            number=normalized, defaults={"source": source}
        )
        if created:
            ConsentEvent.objects.create(
                number=normalized,
                event=ConsentEvent.Event.OPT_OUT,
                source=source,
                actor=actor,
                inbound=inbound,
            )
    return optout, created


def optout_remove(
    *,
    number: str,
    source: str = ConsentEvent.Source.API,
    actor: User | None = None,
    inbound: InboundSms | None = None,
    missing_ok: bool = False,
) -> bool:
    """Take a number off the list, logging the opt-in; returns whether it was on it.
    NotFound when it is not, unless `missing_ok`."""
    normalized = normalize_number(number)
    with transaction.atomic():
        deleted, _ = OptOut.objects.filter(number=normalized or number).delete()
        if deleted:
            ConsentEvent.objects.create(
                number=normalized or number,
                event=ConsentEvent.Event.OPT_IN,
                source=source,
                actor=actor,
                inbound=inbound,
            )
    if not deleted and not missing_ok:
        raise NotFound("This number is not on the opt-out list.")
    return bool(deleted)


def sms_requeue(*, messages: Iterable[SmsMessage]) -> int:
    """Give failed and dead records a fresh set of attempts; returns how many. Records of
    a cancelled or draft campaign, and records in any other state, are left alone."""
    count = 0
    with transaction.atomic():
        # A subquery, not a join, so the status condition stays in the UPDATE's own WHERE.
        open_campaigns = Campaign.objects.filter(
            status__in=[Campaign.Status.RUNNING, Campaign.Status.COMPLETED]
        ).values("id")
        for ids in id_batches([message.pk for message in messages]):
            count += SmsMessage.objects.filter(
                Q(campaign_id__isnull=True) | Q(campaign_id__in=open_campaigns),
                pk__in=ids,
                status__in=[Status.FAILED, Status.DEAD],
            ).update(
                status=Status.QUEUED,
                attempts=0,
                next_attempt_at=None,
                dispatched_at=None,
                updated_at=timezone.now(),
            )
            Campaign.objects.filter(
                status=Campaign.Status.COMPLETED,
                messages__pk__in=ids,
                messages__status=Status.QUEUED,
            ).update(status=Campaign.Status.RUNNING, finished_at=None)
        if count:
            queue.dispatch_on_commit()
    return count

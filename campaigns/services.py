"""Campaign and SMS rules: numbers, bodies, campaigns, opt-outs, re-queues, idempotency.

Delivery itself (claims, the limiter, retries) lives in campaigns/sending.py; reads, and
who may make them, in campaigns/selectors.py. The permission to send SMS is checked by
the entry points, with `selectors.can_send_sms`, before any of these is called.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from accounts.models import User
from messaging_site import text as text_rules
from messaging_site.db import copy_rows, id_batches
from messaging_site.errors import Conflict, Invalid, NotFound

from . import personal, queue, quiet, selectors, sending
from .models import Campaign, ConsentEvent, IdempotentRequest, InboundSms, OptOut, SmsMessage
from .segments import SegmentInfo, analyze_for_sending

MAX_BODY_LENGTH = 1600
MAX_NAME_LENGTH = 100
BATCH_SIZE = 5000
# SPEC section 14: a campaign's start, at least a minute and at most 35 days ahead; how
# long its texts stay worth sending.
SEND_AT_MIN = timedelta(minutes=1)
SEND_AT_MAX = timedelta(days=35)
VALID_FOR_DEFAULT = 86_400
VALID_FOR_MIN, VALID_FOR_MAX = 60, 35 * 86_400
# A recipient's own fields (personal texts): how many, and how long each.
MAX_FIELDS = 50
MAX_FIELD_LENGTH = 500
# Recipients an error names before it says "and N more".
NAMED = 20
Status = SmsMessage.Status


def parse_number(value: object) -> phonenumbers.PhoneNumber | None:
    """A valid phone number, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value.strip(), settings.SMS_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_number(value: object) -> str | None:
    """The E.164 form of a phone number, or None when it is not a valid one."""
    number = parse_number(value)
    return None if number is None else e164(number)


# SPEC section 14, pasted numbers: entries are split at new lines, commas and semicolons
# only; the spaces, dots, dashes and brackets people write inside a number belong to it.
_ENTRY_SEPARATORS = re.compile(r"[\r\n,;]+")


def split_pasted(text: str) -> list[str]:
    """What someone pasted (or a CSV cell held), as its entries: `+1 (415) 555-0143` is
    one, and `+14155550101, +14155550102` two."""
    return [entry.strip() for entry in _ENTRY_SEPARATORS.split(text) if entry.strip()]


def normalize_numbers(values: object, *, field: str) -> list[str]:
    """Valid, normalised, duplicates dropped (first kept), or Invalid naming every bad entry."""
    return [recipient.to for recipient in normalize_recipients(values, field=field)]


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


@dataclass(frozen=True, slots=True)
class Text:
    """One text as it will be sent."""

    body: str
    segments: int
    encoding: str


RECORD_FIELDS = (
    "campaign",
    "kind",
    "to",
    "body",
    "segments",
    "encoding",
    "time_zones",
    "created_by",
    "status",
    "attempts",
    "last_error",
    "provider_id",
    "queued_at",
    "updated_at",
)


ATTNAMES = {field.name: field.attname for field in SmsMessage._meta.concrete_fields}


def _records(
    numbers: list[str],
    *,
    texts: list[Text],
    actor: User,
    campaign: Campaign | None = None,
    zones: list[str] | None = None,
) -> Iterator[tuple]:
    """Rows of RECORD_FIELDS for these numbers (texts[i] for numbers[i], or texts[0] for
    all): `queued`, or `skipped` when opted out. The opt-out list is read now, not as the
    rows are taken: they are taken while a COPY holds the connection."""
    opted_out = selectors.opted_out(numbers)
    now = timezone.now()
    campaign_id = campaign.pk if campaign else None

    def row(i: int, number: str) -> tuple:
        text = texts[i] if len(texts) > 1 else texts[0]
        skipped = number in opted_out
        return (
            campaign_id,
            SmsMessage.Kind.MESSAGE,
            number,
            text.body,
            text.segments,
            text.encoding,
            zones[i] if zones else "",
            actor.pk,
            Status.SKIPPED if skipped else Status.QUEUED,
            0,
            "opted out" if skipped else "",
            "",
            now,
            now,
        )

    return (row(i, number) for i, number in enumerate(numbers))


# --- direct sends ---------------------------------------------------------------------


def sms_send(*, actor: User, message: str, to: list[str], smart_encoding: bool = False) -> dict:
    """Queue one text to each number (duplicates once, opted-out ones `skipped`).

    Raises Invalid for a bad body or any bad number; nothing is queued then.
    Returns the response body of `POST /api/sms/send/`.
    """
    body, info = prepare_body(message, smart_encoding=smart_encoding)
    numbers = normalize_numbers(to, field="to")
    with transaction.atomic():
        text = Text(body, info.segments, info.encoding)
        # bulk_create, not COPY: the answer names each record's id.
        rows = SmsMessage.objects.bulk_create(
            SmsMessage(
                **{ATTNAMES[name]: value for name, value in zip(RECORD_FIELDS, row, strict=True)}
            )
            for row in _records(numbers, texts=[text], actor=actor)
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


@dataclass(frozen=True, slots=True)
class Recipient:
    to: str
    fields: dict[str, str]
    # The number's time zones (campaigns.quiet), when asked for: 20 us each.
    zones: str = ""


def _named(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:NAMED])
    return shown + (f" and {len(numbers) - NAMED} more" if len(numbers) > NAMED else "")


def _fields_of(item: dict) -> dict[str, str] | str:
    """A REST recipient's fields by `personal.field_name`, or what is wrong with them."""
    if len(item) > MAX_FIELDS + 1:
        return f"at most {MAX_FIELDS} fields"
    fields = {}
    for key, value in item.items():
        if key == "to":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return f"{key!r} must be text or a number"
        text = str(value).strip()
        if len(text) > MAX_FIELD_LENGTH:
            return f"{key!r} is over {MAX_FIELD_LENGTH} characters"
        fields[personal.field_name(str(key))] = text
    return fields


def normalize_recipients(
    values: object, *, field: str, with_zones: bool = False
) -> list[Recipient]:
    """Numbers, or objects `{"to", ...fields}` (SPEC section 14), from any iterable (a
    CSV's rows as they are read), valid and normalised, a number given twice taken once
    (its first fields kept); Invalid naming every bad entry."""
    if isinstance(values, str | bytes | dict) or not isinstance(values, Iterable):
        raise Invalid(fields={field: ["Give at least one phone number."]})
    recipients: dict[str, Recipient] = {}
    bad: list[str] = []
    for value in values:
        fields: dict[str, str] | str = {}
        entry = value
        if isinstance(value, dict):
            entry = value.get("to")
            fields = _fields_of(value)
        number = parse_number(entry)
        if number is None:
            bad.append(f"{entry!r} is not a valid phone number.")
        elif isinstance(fields, str):
            bad.append(f"{entry!r}: {fields}.")
        else:
            to = e164(number)
            if to not in recipients:
                zones = quiet.zones_of(number) if with_zones else ""
                recipients[to] = Recipient(to, fields, zones)
    if bad:
        raise Invalid(fields={field: bad})
    if not recipients:
        raise Invalid(fields={field: ["Give at least one phone number."]})
    return list(recipients.values())


def _personal_texts(
    template: str, recipients: list[Recipient], *, smart_encoding: bool
) -> list[Text]:
    """Each recipient's text, or Invalid naming the recipients a placeholder has no value
    for, or whose text is too long or holds what no text may."""
    missing: dict[str, list[str]] = {}
    too_long: list[str] = []
    refused: dict[str, list[str]] = {}
    texts: list[Text] = []
    # Many recipients share a text (a first name, a city): measured once each.
    measured: dict[str, Text] = {}
    for recipient in recipients:
        rendered, lacking = personal.render(template, recipient.fields)
        for name in lacking:
            missing.setdefault(name, []).append(recipient.to)
        if lacking:
            continue
        text = measured.get(rendered)
        if text is None:
            if len(rendered) > MAX_BODY_LENGTH:
                too_long.append(recipient.to)
                continue
            problem = text_rules.character_problem(rendered)
            if problem is not None:
                refused.setdefault(problem, []).append(recipient.to)
                continue
            body, info = analyze_for_sending(rendered, smart_encoding=smart_encoding)
            text = measured[rendered] = Text(body, info.segments, info.encoding)
        texts.append(text)
    errors = [
        f"No value for {{{{{name}}}}} for {_named(numbers)}." for name, numbers in missing.items()
    ]
    if too_long:
        errors.append(f"Over {MAX_BODY_LENGTH} characters once filled in for {_named(too_long)}.")
    errors += [f"{problem} (for {_named(numbers)})" for problem, numbers in refused.items()]
    if errors:
        raise Invalid(fields={"recipients": errors})
    return texts


@dataclass(frozen=True)
class Schedule:
    send_at: datetime | None
    quiet: tuple | None
    valid_for_seconds: int


def _schedule(send_at: object, quiet_hours: object, valid_for_seconds: object) -> Schedule:
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    if send_at is not None and (
        not isinstance(send_at, datetime)
        or timezone.is_naive(send_at)
        or not now + SEND_AT_MIN <= send_at <= now + SEND_AT_MAX
    ):
        errors["send_at"] = ["At least 1 minute and at most 35 days ahead, with its time zone."]
    quiet_times = None
    if quiet_hours is not None:
        try:
            quiet_times = quiet.parse_hours(quiet_hours)
        except ValueError as error:
            errors["quiet_hours"] = [str(error)]
    if (
        isinstance(valid_for_seconds, bool)
        or not isinstance(valid_for_seconds, int)
        or not VALID_FOR_MIN <= valid_for_seconds <= VALID_FOR_MAX
    ):
        errors["valid_for_seconds"] = [
            f"A whole number of seconds from {VALID_FOR_MIN} to {VALID_FOR_MAX:,} (35 days)."
        ]
    if errors:
        raise Invalid(fields=errors)
    return Schedule(send_at, quiet_times, valid_for_seconds)  # type: ignore[arg-type]


def campaign_create(
    *,
    actor: User,
    name: str,
    message: str,
    recipients: Iterable,
    smart_encoding: bool = False,
    send_at: datetime | None = None,
    quiet_hours: dict | None = None,
    valid_for_seconds: int = VALID_FOR_DEFAULT,
) -> Campaign:
    """A draft campaign with one queued record per distinct recipient (opted-out ones
    `skipped`), inserted in batches. `recipients` are numbers or `{"to", ...fields}`;
    `{{placeholders}}` in `message` are filled per recipient from their fields. Invalid
    (name, message, schedule, any bad number, any recipient a placeholder has no value
    for): nothing written."""
    name = text_rules.clean(
        name, field="name", max_length=MAX_NAME_LENGTH, blank="A name is required."
    )
    body, info = prepare_body(message, smart_encoding=smart_encoding)
    schedule = _schedule(send_at, quiet_hours, valid_for_seconds)
    people = normalize_recipients(
        recipients, field="recipients", with_zones=schedule.quiet is not None
    )
    if personal.placeholders(message):
        texts = _personal_texts(message, people, smart_encoding=smart_encoding)
    else:
        texts = [Text(body, info.segments, info.encoding)]
    zones = [person.zones for person in people] if schedule.quiet else None
    numbers = [person.to for person in people]
    quiet_start, quiet_end = schedule.quiet or (None, None)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            message=message,
            body=body,
            smart_encoding=smart_encoding,
            encoding="UCS-2" if any(t.encoding == "UCS-2" for t in texts) else "GSM-7",
            segments_per_message=max(text.segments for text in texts),
            send_at=schedule.send_at,
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            valid_for_seconds=schedule.valid_for_seconds,
            created_by=actor,
        )
        for start in range(0, len(numbers), BATCH_SIZE):
            end = start + BATCH_SIZE
            copy_rows(
                SmsMessage,
                RECORD_FIELDS,
                _records(
                    numbers[start:end],
                    texts=texts[start:end] if len(texts) > 1 else texts,
                    zones=zones[start:end] if zones else None,
                    actor=actor,
                    campaign=campaign,
                ),
            )
        if len(numbers) >= ANALYZE_AFTER:
            transaction.on_commit(_analyze_records)
    return campaign


# A campaign this big changes the table's statistics enough that the planner, until
# autovacuum gets to it, would read every queued row for the dispatcher's LIMIT 60
# (campaigns.sending.dispatch_due: 50 ms a dispatch for 100,000, 0.1 ms once analysed).
ANALYZE_AFTER = 10_000


def _analyze_records() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(SmsMessage._meta.db_table)}")


def campaign_launch(*, campaign: Campaign) -> Campaign:
    """Start sending a draft (Conflict otherwise), or schedule it when its `send_at` is
    still ahead (the tick starts it then: `start_due_campaigns`); returns the campaign
    as it now is. Records are claimed in batches by the dispatcher, so launch itself is
    a few UPDATEs whatever the size. A `send_at` that has passed by the launch starts it
    at once."""
    now = timezone.now()
    later = Q(send_at__gt=now)
    with transaction.atomic():
        launched = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DRAFT).update(
            status=Case(
                When(later, then=Value(Campaign.Status.SCHEDULED)),
                default=Value(Campaign.Status.RUNNING),
            ),
            launched_at=now,
            started_at=Case(When(later, then=None), default=Value(now)),
        )
        if not launched:
            raise Conflict("Only a draft campaign can be launched.")
        current = Campaign.objects.select_related("created_by").get(pk=campaign.pk)
        if current.status == Campaign.Status.RUNNING:
            sending.defer_quiet_hours(current, at=now)
            queue.dispatch_on_commit()
    return current


def start_due_campaigns() -> list[int]:
    """Start the scheduled campaigns whose `send_at` has come (the tick, every second);
    their validity counts from `send_at`. Returns their ids."""
    now = timezone.now()
    started = []
    for campaign in Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lte=now):
        with transaction.atomic():
            moved = Campaign.objects.filter(
                pk=campaign.pk, status=Campaign.Status.SCHEDULED
            ).update(status=Campaign.Status.RUNNING, started_at=campaign.send_at)
            if not moved:
                continue  # cancelled, or started by another tick
            campaign.started_at = campaign.send_at
            sending.defer_quiet_hours(campaign, at=now)
            queue.dispatch_on_commit()
        started.append(campaign.pk)
    return started


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop a draft, scheduled or running campaign: its queued records become
    `cancelled`. A record already with the provider finishes. Finished campaigns:
    Conflict. Returns the campaign as it now is."""
    with transaction.atomic():
        cancelled = Campaign.objects.filter(
            pk=campaign.pk,
            status__in=[
                Campaign.Status.DRAFT,
                Campaign.Status.SCHEDULED,
                Campaign.Status.RUNNING,
            ],
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

"""Delivery: how an SMS record moves from `queued` to `sent` exactly once.

The record's row is the truth; a Celery task only says "look at record N". Every move is
a conditional UPDATE, so a task that runs twice, late, or after the sweep took its record
back changes nothing:

    queued --claim--> sending --> sent | failed | dead | skipped | expired
       ^                 |
       +-- transient ----+   (next_attempt_at = now + backoff; no task until then)
       +-- quiet hours --+   (next_attempt_at = the recipient's morning; not an attempt)
       +-- lease expired (sweep)
    queued --> expired       (the campaign's validity ran out: sweep)

- `dispatch_due` puts tasks on the broker for due records that have none (marked by
  `dispatched_at`), at most SMS_MAX_IN_FLIGHT at a time, taking rows with
  `FOR UPDATE SKIP LOCKED` so two dispatchers never pick the same record. Retries go
  first, at a higher broker priority. A mark older than SMS_REDISPATCH_SECONDS is taken
  for a task lost with the broker: it neither counts in flight nor stops a new task.
- `attempt` claims (queued -> sending with a lease), expires a text past its campaign's
  validity, defers one inside its recipient's quiet hours, checks the opt-out list again,
  reserves a place in the global limiter and sleeps until it, renews the lease to cover
  the provider call (or gives the place back if the sweep took the record meanwhile),
  calls the provider with the record id as `reference` (the backend takes the place
  for real just before it writes: campaigns/limiter.py), and records the outcome only if
  it still holds the lease.
- `sweep` takes back expired leases (SMS_LEASE_SECONDS, a few seconds past the provider
  timeout, so a killed worker's record goes out again soon) and forgets dispatch marks
  of tasks that never came.
"""

import logging
import random
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone

from messaging_site import logs, metrics
from messaging_site.db import id_batches

from . import queue, quiet, selectors
from .backends import BaseBackend, OutboundSms, PermanentError, TransientError, get_backend
from .limiter import Slot, get_limiter
from .models import Campaign, SmsMessage

logger = logging.getLogger("campaigns.send")
Status = SmsMessage.Status


def _live_campaign() -> Q:
    """No campaign, or a running one.

    Written as a subquery on `campaign_id`, not a join: Django turns an UPDATE with a join
    into `WHERE id IN (SELECT ...)`, and PostgreSQL then re-checks only that outer clause
    after waiting for a concurrent claim, so two workers could both claim one record.
    """
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING).values("id")
    return Q(campaign_id__isnull=True) | Q(campaign_id__in=running)


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, from SMS_RETRY_BASE_SECONDS doubling to the cap;
    a provider's Retry-After is a floor."""
    ceiling = min(
        settings.SMS_RETRY_CAP_SECONDS, settings.SMS_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    )
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.SMS_RETRY_CAP_SECONDS))
    return delay


def dispatch_due(*, limit: int | None = None) -> list[int]:
    """Mark due records as dispatched and, after commit, enqueue one task for each;
    returns their ids. Retries first, and ahead of first attempts on the broker: a retry
    waits its backoff, not the backlog."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.SMS_REDISPATCH_SECONDS)
    # A dispatch older than SMS_REDISPATCH_SECONDS is presumed lost with the broker (Redis
    # restarted empty, say): it no longer holds a place in flight, and is sent again.
    # Each clause on its own partial index (campaigns.models): a query that read every
    # queued row cost ~30 ms a dispatch for a 100,000-text campaign, once per text sent.
    in_flight = (
        SmsMessage.objects.filter(status=Status.SENDING).count()
        + SmsMessage.objects.filter(status=Status.QUEUED, dispatched_at__gte=stale).count()
    )
    room = (limit or settings.SMS_MAX_IN_FLIGHT) - in_flight
    if room <= 0:
        return []
    with transaction.atomic():
        due = (
            SmsMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Status.QUEUED)
            .filter(_live_campaign())
        )
        waiting = due.filter(dispatched_at__isnull=True)
        # A keyword's reply is the answer someone waits for: ahead of a campaign's backlog.
        replies = list(
            waiting.filter(kind=SmsMessage.Kind.REPLY, next_attempt_at__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)[:room]
        )
        retries = list(
            waiting.filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[: room - len(replies)]
        )
        # Tasks presumed lost with the broker go again, as urgently as retries.
        lost = list(
            due.filter(dispatched_at__lt=stale)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("dispatched_at", "id")
            .values_list("id", flat=True)[: room - len(replies) - len(retries)]
        )
        urgent = replies + retries + lost
        first = (
            list(
                waiting.filter(next_attempt_at__isnull=True)
                .exclude(id__in=replies)
                .order_by("id")
                .values_list("id", flat=True)[: room - len(urgent)]
            )
            if len(urgent) < room
            else []
        )
        ids = urgent + first
        if ids:
            for batch in id_batches(ids):  # SMS_MAX_IN_FLIGHT may be large
                SmsMessage.objects.filter(id__in=batch).update(dispatched_at=now)
            queue.send_on_commit(urgent, urgent=True)
            queue.send_on_commit(first)
    return ids


def validity_deadline(campaign: Campaign) -> datetime | None:
    """After this a campaign's texts not yet handed over expire (SPEC section 14)."""
    if campaign.started_at is None:
        return None
    return campaign.started_at + timedelta(seconds=campaign.valid_for_seconds)


def defer_quiet_hours(campaign: Campaign, *, at: datetime) -> None:
    """As a campaign starts: its queued records inside quiet hours at `at` wait for the end
    of the quiet period (as retries do, by `next_attempt_at`), or expire at once when the
    campaign's validity ends first. Records are grouped by their zones: a few UPDATEs,
    whatever the campaign's size. `attempt` checks again as each record is sent."""
    if campaign.quiet_start is None or campaign.quiet_end is None:
        return
    deadline = validity_deadline(campaign)
    waiting = SmsMessage.objects.filter(
        campaign=campaign, status=Status.QUEUED, next_attempt_at__isnull=True
    )
    later: dict[str, datetime] = {}
    expired: list[str] = []
    for zones in waiting.values_list("time_zones", flat=True).distinct().order_by():
        until = quiet.deferred_until(zones, campaign.quiet_start, campaign.quiet_end, at)
        if until is None:
            continue
        if deadline is not None and until >= deadline:
            expired.append(zones)
        else:
            later[zones] = until
    now = timezone.now()
    if later:
        waiting.filter(time_zones__in=list(later)).update(
            next_attempt_at=Case(
                *(When(time_zones=zones, then=Value(until)) for zones, until in later.items()),
                output_field=DateTimeField(),
            ),
            updated_at=now,
        )
    if expired:
        waiting.filter(time_zones__in=expired).update(
            status=Status.EXPIRED, last_error=QUIET_PAST_VALIDITY, updated_at=now
        )


QUIET_PAST_VALIDITY = "quiet hours last past the campaign's validity"
EXPIRED_ERROR = "not handed over within the campaign's validity"


def _finish(message_id: int, token: uuid.UUID, **changes: object) -> bool:
    """Record an outcome, only if our claim still stands."""
    changes.setdefault("lease_expires_at", None)
    changes.setdefault("lease_token", None)
    return bool(
        SmsMessage.objects.filter(pk=message_id, status=Status.SENDING, lease_token=token).update(
            **changes, updated_at=timezone.now()
        )
    )


def attempt(*, message_id: int) -> str | None:
    """One delivery attempt for a record; returns the outcome, or None if there was nothing
    to do (already sent, not due, cancelled, claimed elsewhere). Every line it logs names
    the record and its campaign (messaging_site.logs)."""
    # campaign_id is bound once the record is read; leaving the block unbinds both.
    with logs.bound(sms_id=message_id, campaign_id=None):
        return _attempt(message_id)


def _attempt(message_id: int) -> str | None:
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        SmsMessage.objects.filter(pk=message_id, status=Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(_live_campaign())
        .update(
            status=Status.SENDING,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.SMS_LEASE_SECONDS),
            dispatched_at=None,
            # Counted at the claim, so a try whose worker died still counts.
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )
    if not claimed:
        return None
    message = SmsMessage.objects.select_related("campaign").get(pk=message_id)
    if message.campaign_id is not None:
        logs.bind(campaign_id=message.campaign_id)
    deadline = validity_deadline(message.campaign) if message.campaign else None

    if deadline is not None and now >= deadline:
        return _expire(message, token, EXPIRED_ERROR)
    until = _quiet_until(message, now)
    if until is not None:
        if deadline is not None and until >= deadline:
            return _expire(message, token, QUIET_PAST_VALIDITY)
        # Not an attempt: back to the queue, due when the recipient's morning comes.
        _finish(
            message.pk,
            token,
            status=Status.QUEUED,
            next_attempt_at=until,
            attempts=F("attempts") - 1,
        )
        _log(message, "deferred", 0.0)
        return "deferred"
    if _opted_out(message):
        return _skip(message, token)

    # Everything slow (imports, the backend's setup) happens before the reservation;
    # the backend connects before `ready()`, the moment the slot is really taken.
    backend = get_backend()
    sms = OutboundSms(
        to=message.to,
        sender=settings.SMS_FROM,
        body=message.body,
        segments=message.segments,
        reference=str(message.pk),
    )
    slot = get_limiter().wait(message.segments)
    # The wait may be seconds: a STOP that came meanwhile still stops this text, and a
    # text whose validity ran out meanwhile does not go out late.
    if _opted_out(message):
        slot.release()
        return _skip(message, token)
    if deadline is not None and timezone.now() >= deadline:
        slot.release()
        return _expire(message, token, EXPIRED_ERROR)
    if not _renew(message_id, token):
        # The sweep took it back while we waited (the lease ran out): someone else may be
        # sending it now. Send nothing and give the slot back.
        slot.release()
        logger.warning("sms=%s lost its lease while waiting for the limiter", message_id)
        return None
    started, waited = time.monotonic(), slot.waited
    try:
        outcome, changes = _call_provider(backend, sms, slot, message.attempts)
    finally:
        slot.release()  # a no-op once the request went out
    # The provider's part: what `ready()` spent waiting for the place is the limiter's.
    latency = time.monotonic() - started - (slot.waited - waited)
    if not _record(message_id, token, changes):
        logger.warning("sms=%s lost its lease before recording %s", message_id, outcome)
    _log(message, outcome, latency, changes.get("last_error", ""), slot=slot)
    _complete_campaign(message.campaign_id)
    return outcome


def _opted_out(message: SmsMessage) -> bool:
    """Nothing goes to an opted-out number but the reply that confirms its keyword."""
    return message.kind != SmsMessage.Kind.REPLY and bool(selectors.opted_out([message.to]))


def _quiet_until(message: SmsMessage, now: datetime) -> datetime | None:
    campaign = message.campaign
    if campaign is None or campaign.quiet_start is None or campaign.quiet_end is None:
        return None
    return quiet.deferred_until(message.time_zones, campaign.quiet_start, campaign.quiet_end, now)


def _expire(message: SmsMessage, token: uuid.UUID, reason: str) -> str:
    _finish(message.pk, token, status=Status.EXPIRED, last_error=reason)
    _log(message, "expired", 0.0)
    _complete_campaign(message.campaign_id)
    return "expired"


def _skip(message: SmsMessage, token: uuid.UUID) -> str:
    _finish(message.pk, token, status=Status.SKIPPED, last_error="opted out")
    _log(message, "skipped", 0.0)
    _complete_campaign(message.campaign_id)
    return "skipped"


def _record(message_id: int, token: uuid.UUID, changes: dict) -> bool:
    """`_finish`, through a database outage: the provider has the message now, and an
    outcome lost here would send it again once the lease ran out. Retried while the lease
    (renewed just before the call) could still stand, and a while after: the sweep that
    would take the record back needs the database too."""
    deadline = time.monotonic() + 2 * settings.SMS_LEASE_SECONDS
    delay = 0.2
    while True:
        try:
            return _finish(message_id, token, **changes)
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            logger.warning("sms=%s: database unreachable, outcome kept for a retry", message_id)
            connection.close()  # broken: the next try opens a new one
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _renew(message_id: int, token: uuid.UUID) -> bool:
    """Extend our claim to cover the provider call (SMS_LEASE_SECONDS exceeds its
    timeout), if it still stands."""
    now = timezone.now()
    return bool(
        SmsMessage.objects.filter(pk=message_id, status=Status.SENDING, lease_token=token).update(
            lease_expires_at=now + timedelta(seconds=settings.SMS_LEASE_SECONDS), updated_at=now
        )
    )


def _call_provider(
    backend: BaseBackend, sms: OutboundSms, slot: Slot, attempts: int
) -> tuple[str, dict]:
    try:
        provider_id = backend.send(sms, slot)
    except TransientError as error:
        if attempts >= settings.SMS_MAX_ATTEMPTS:
            return "dead", {"status": Status.DEAD, "last_error": str(error)}
        delay = backoff_seconds(attempts, error.retry_after)
        return "retry", {
            "status": Status.QUEUED,
            "next_attempt_at": timezone.now() + timedelta(seconds=delay),
            "last_error": str(error),
        }
    except PermanentError as error:
        return "failed", {"status": Status.FAILED, "last_error": str(error)}
    return "sent", {
        "status": Status.SENT,
        "provider_id": provider_id[:100],
        "sent_at": timezone.now(),
        "last_error": "",
    }


def _log(
    message: SmsMessage,
    outcome: str,
    latency: float,
    error: str = "",
    *,
    slot: Slot | None = None,
) -> None:
    metrics.SMS_OUTCOMES.labels(outcome).inc()
    if slot is not None:
        metrics.SMS_LIMITER_WAIT.observe(slot.waited)
        if slot.departed:
            metrics.SMS_SEGMENTS.labels(settings.SMS_BACKEND.rsplit(".", 1)[-1]).inc(
                message.segments
            )
    logger.info(
        "sms=%s campaign=%s attempt=%s segments=%s outcome=%s latency_ms=%.1f "
        "limiter_wait_ms=%.1f limiter_asked=%s write_ms=%.2f%s",
        message.pk,
        message.campaign_id or "-",
        message.attempts,
        message.segments,
        outcome,
        latency * 1000,
        slot.waited * 1000 if slot else 0.0,
        slot.asked if slot else 0,
        slot.late_us / 1000 if slot else 0.0,
        f" error={error!r}" if error else "",
        extra={
            "attempt": message.attempts,
            "segments": message.segments,
            "outcome": outcome,
            "latency_ms": round(latency * 1000, 1),
            **(
                {
                    "limiter_wait_ms": round(slot.waited * 1000, 1),
                    "limiter_asked": slot.asked,
                    "write_ms": round(slot.late_us / 1000, 2),
                }
                if slot
                else {}
            ),
            **({"error": error} if error else {}),
        },
    )


def _complete_campaign(campaign_id: int | None) -> None:
    if campaign_id is None:
        return
    unfinished = SmsMessage.objects.filter(
        campaign_id=campaign_id, status__in=[Status.QUEUED, Status.SENDING]
    )
    if not unfinished.exists():
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.COMPLETED, finished_at=timezone.now()
        )


def sweep() -> dict[str, int]:
    """Take back what a lost worker or a lost task left behind."""
    now = timezone.now()
    lapsed = SmsMessage.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)
    dead = lapsed.filter(attempts__gte=settings.SMS_MAX_ATTEMPTS).update(
        status=Status.DEAD,
        lease_token=None,
        lease_expires_at=None,
        last_error="worker lost during the last attempt",
        updated_at=now,
    )
    requeued = lapsed.update(
        status=Status.QUEUED,
        lease_token=None,
        lease_expires_at=None,
        next_attempt_at=None,
        dispatched_at=None,
        last_error="worker lost during an attempt",
        updated_at=now,
    )
    stale = now - timedelta(seconds=settings.SMS_REDISPATCH_SECONDS)
    forgotten = SmsMessage.objects.filter(status=Status.QUEUED, dispatched_at__lt=stale).update(
        dispatched_at=None
    )
    expired = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING):
        deadline = validity_deadline(campaign)
        if deadline is not None and now >= deadline:
            # Whatever is still queued (waiting for the limiter, a backoff, the morning)
            # will not go out late. A record being sent finishes.
            expired += SmsMessage.objects.filter(campaign=campaign, status=Status.QUEUED).update(
                status=Status.EXPIRED, last_error=EXPIRED_ERROR, dispatched_at=None, updated_at=now
            )
        _complete_campaign(campaign.pk)
    metrics.SMS_OUTCOMES.labels("dead").inc(dead)
    metrics.SMS_OUTCOMES.labels("lost").inc(requeued)
    metrics.SMS_OUTCOMES.labels("expired").inc(expired)
    return {"dead": dead, "requeued": requeued, "redispatch": forgotten, "expired": expired}

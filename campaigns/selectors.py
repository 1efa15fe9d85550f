"""Campaign and SMS reads, and who may see them: every holder of `campaigns.send_sms`
sees every campaign (a team's shared tool); nobody else sees any."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from messaging_site.errors import Forbidden, NotFound

from . import quiet
from .models import Campaign, OptOut, SmsMessage

PERMISSION = "campaigns.send_sms"
NOT_A_SENDER = "You need the permission to send SMS (campaigns.send_sms)."
Status = SmsMessage.Status
# A campaign that finished this recently is still published, so watchers see its end.
FINISHED_GRACE = timedelta(seconds=3)


def can_send_sms(user: User | AnonymousUser) -> bool:
    """The one check behind every SMS door (REST, the web pages, the socket): members of
    "Campaign managers", anyone granted the permission, superusers."""
    return bool(user.is_authenticated and user.has_perm(PERMISSION))


def campaigns_for_sender(*, user: User | AnonymousUser) -> QuerySet[Campaign]:
    """Every campaign, for a holder of the permission; Forbidden for anyone else."""
    if not can_send_sms(user):
        raise Forbidden(NOT_A_SENDER)
    return Campaign.objects.select_related("created_by")


def campaign_for_sender(*, user: User | AnonymousUser, campaign_id: int) -> Campaign:
    """One campaign, for a holder of the permission (Forbidden otherwise); NotFound when
    there is no such campaign."""
    campaign = campaigns_for_sender(user=user).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


def campaign_messages(*, campaign: Campaign, status: str | None = None) -> QuerySet[SmsMessage]:
    """The campaign's texts, optionally in one status. Precondition: the caller may see
    the campaign (`campaign_for_sender`)."""
    messages = SmsMessage.objects.filter(campaign=campaign)
    if status is not None:
        messages = messages.filter(status=status)
    return messages


def campaign_problems(*, campaign: Campaign) -> QuerySet[SmsMessage]:
    """The campaign's failed and dead texts, oldest first: what a marketer re-queues."""
    return (
        campaign_messages(campaign=campaign)
        .filter(status__in=[Status.FAILED, Status.DEAD])
        .order_by("pk")
    )


def opt_outs() -> QuerySet[OptOut]:
    return OptOut.objects.all()


def opted_out(numbers: list[str]) -> set[str]:
    """Those of `numbers` (E.164) on the opt-out list."""
    return set(OptOut.objects.filter(number__in=numbers).values_list("number", flat=True))


DELIVERY_COUNTS: dict[str, str] = {
    SmsMessage.Delivery.DELIVERED: "delivered",
    SmsMessage.Delivery.UNDELIVERED: "undelivered",
    SmsMessage.Delivery.EXPIRED: "undelivered",
}


def campaign_progress(*, campaign: Campaign) -> dict:
    """Counts per status, segments in total and sent, and the time left at the set rate."""
    return campaigns_progress(campaigns=[campaign])[campaign.pk]


def campaigns_progress(*, campaigns: list[Campaign]) -> dict[int, dict]:
    """campaign_progress for several campaigns, in two queries."""
    ids = [c.pk for c in campaigns]
    rows = (
        SmsMessage.objects.filter(campaign__in=ids)
        .values("campaign", "status", "delivery_status")
        .annotate(count=Count("id"), segments=Sum("segments"))
        .order_by()
    )
    # Per status, then what the delivery reports said of the texts sent: `delivered`, and
    # `undelivered` (expired ones included).
    counts = {
        c.pk: dict.fromkeys([*Status.values, *dict.fromkeys(DELIVERY_COUNTS.values())], 0)
        for c in campaigns
    }
    segments = {c.pk: dict.fromkeys(Status.values, 0) for c in campaigns}
    for row in rows:
        counts[row["campaign"]][row["status"]] += row["count"]
        segments[row["campaign"]][row["status"]] += row["segments"] or 0
        if row["delivery_status"]:
            counted = DELIVERY_COUNTS[row["delivery_status"]]
            counts[row["campaign"]][counted] += row["count"]
    waiting = _waiting(
        [c.pk for c in campaigns if c.status == Campaign.Status.RUNNING and segments[c.pk]]
    )
    now = timezone.now()
    progress = {}
    for campaign in campaigns:
        mine = segments[campaign.pk]
        eta = None
        if campaign.status == Campaign.Status.RUNNING:
            eta = finish_after(waiting.get(campaign.pk, []), now)
        elif campaign.status == Campaign.Status.SCHEDULED and campaign.send_at is not None:
            eta = finish_after([(campaign.send_at, mine[Status.QUEUED])], now)
        progress[campaign.pk] = {
            "counts": counts[campaign.pk],
            "segments_total": sum(mine.values())
            - mine[Status.SKIPPED]
            - mine[Status.CANCELLED]
            - mine[Status.EXPIRED],
            "segments_sent": mine[Status.SENT],
            "eta_seconds": eta,
        }
    return progress


def _waiting(campaign_ids: list[int]) -> dict[int, list[tuple]]:
    """Per running campaign, its segments still to send by when they are due (NULL: now;
    later: a backoff, or the end of quiet hours)."""
    if not campaign_ids:
        return {}
    rows = (
        SmsMessage.objects.filter(
            campaign__in=campaign_ids, status__in=[Status.QUEUED, Status.SENDING]
        )
        .values_list("campaign", "next_attempt_at")
        .annotate(segments=Sum("segments"))
        .order_by()
    )
    waiting: dict[int, list[tuple]] = {}
    for campaign_id, due, total in rows:
        waiting.setdefault(campaign_id, []).append((due, total))
    return waiting


def finish_after(waiting: list[tuple[datetime | None, int]], now: datetime) -> float:
    """Seconds until the last of these segments has gone at the configured rate, each
    group no earlier than it is due (None: now): the ETA, counting deferrals."""
    rate = settings.SMS_SEGMENTS_PER_SECOND
    finish = now
    for due, total in sorted(waiting, key=lambda group: group[0] or now):
        finish = max(finish, due or now) + timedelta(seconds=total / rate)
    return round(max(0.0, (finish - now).total_seconds()), 1)


def campaigns_in_progress() -> list[Campaign]:
    """Running campaigns, and those that finished a moment ago (their watchers see the
    end), in id order."""
    recent = timezone.now() - FINISHED_GRACE
    return list(
        Campaign.objects.filter(
            Q(status=Campaign.Status.RUNNING) | Q(finished_at__gte=recent)
        ).order_by("pk")
    )


PREVIEW_SHOWN = 100


def campaign_preview(*, campaign: Campaign) -> dict:
    """What launching the campaign would do (SPEC section 14, preview): totals over every
    recipient and the first PREVIEW_SHOWN with their texts. Read at the moment it would
    start (its `send_at`, or now), with the opt-out list as it is now. Precondition: the
    caller may see the campaign."""
    at = timezone.now()
    if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED) and campaign.send_at:
        at = max(at, campaign.send_at)
    deadline = at + timedelta(seconds=campaign.valid_for_seconds)
    records = campaign_messages(campaign=campaign).annotate(
        opted_out=Exists(OptOut.objects.filter(number=OuterRef("to")))
    )
    groups = (
        records.values_list("status", "opted_out", "time_zones", "encoding")
        .annotate(count=Count("id"), segments=Sum("segments"))
        .order_by()
    )
    outcome_of_zones: dict[str, tuple[str, datetime | None]] = {}

    def outcome(status: str, opted: bool, zones: str) -> tuple[str, datetime | None]:
        if status == Status.SKIPPED or (opted and status == Status.QUEUED):
            return "skipped", None
        if status != Status.QUEUED:
            return status, None  # a record of a running campaign already past the queue
        if zones not in outcome_of_zones:
            until = None
            if campaign.quiet_start is not None and campaign.quiet_end is not None:
                until = quiet.deferred_until(zones, campaign.quiet_start, campaign.quiet_end, at)
            verdict = "send" if until is None else "deferred"
            if until is not None and until >= deadline:
                verdict = "expired"
            outcome_of_zones[zones] = (verdict, until)
        return outcome_of_zones[zones]

    totals = {"recipients": 0, "segments": 0, "skipped": 0, "deferred": 0, "expired": 0}
    encodings: dict[str, int] = {}
    waiting: list[tuple[datetime | None, int]] = []
    for status, opted, zones, encoding, count, segments in groups:
        totals["recipients"] += count
        verdict, until = outcome(status, opted, zones)
        if verdict in ("skipped", "expired"):
            totals[verdict] += count
            continue
        if verdict not in ("send", "deferred"):
            continue
        totals["deferred"] += count if verdict == "deferred" else 0
        totals["segments"] += segments or 0
        key = encoding or "unknown"
        encodings[key] = encodings.get(key, 0) + count
        waiting.append((until or at, segments or 0))
    eta = finish_after(waiting, timezone.now()) if waiting else 0.0
    shown = []
    for record in records.order_by("pk")[:PREVIEW_SHOWN]:
        verdict, until = outcome(record.status, record.opted_out, record.time_zones)
        shown.append(
            {
                "to": record.to,
                "body": record.body,
                "encoding": record.encoding,
                "segments": record.segments,
                "outcome": verdict,
                "deferred_until": until if verdict == "deferred" else None,
            }
        )
    return {**totals, "encodings": encodings, "eta_seconds": eta, "starts_at": at, "texts": shown}

"""Campaign and SMS reads, and who may see them: every holder of `campaigns.send_sms`
sees every campaign (a team's shared tool); nobody else sees any."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from messaging_site.errors import Forbidden, NotFound

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
    """campaign_progress for several campaigns, in one query."""
    rows = (
        SmsMessage.objects.filter(campaign__in=[c.pk for c in campaigns])
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
    progress = {}
    for campaign in campaigns:
        mine = segments[campaign.pk]
        to_send = mine[Status.QUEUED] + mine[Status.SENDING]
        running = campaign.status == Campaign.Status.RUNNING
        progress[campaign.pk] = {
            "counts": counts[campaign.pk],
            "segments_total": sum(mine.values()) - mine[Status.SKIPPED] - mine[Status.CANCELLED],
            "segments_sent": mine[Status.SENT],
            "eta_seconds": (
                round(to_send / settings.SMS_SEGMENTS_PER_SECOND, 1) if running else None
            ),
        }
    return progress


def campaigns_in_progress() -> list[Campaign]:
    """Running campaigns, and those that finished a moment ago (their watchers see the
    end), in id order."""
    recent = timezone.now() - FINISHED_GRACE
    return list(
        Campaign.objects.filter(
            Q(status=Campaign.Status.RUNNING) | Q(finished_at__gte=recent)
        ).order_by("pk")
    )

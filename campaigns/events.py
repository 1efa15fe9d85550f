"""The campaign frames of the WebSocket protocol (docs/PROTOCOL.md, "Campaigns"):
`campaignProgress`.

Progress goes out from one place, `publish_progress`, which beat's one-second `sms_tick`
calls: one frame per running campaign per second, however many texts went out in it,
to the sockets that asked with `watchCampaign` (holders of `campaigns.send_sms`).
"""

import json
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from messaging_site.realtime import publish_now

from . import services
from .models import Campaign

# A campaign that finished this recently is still published, so watchers see its end.
FINISHED_GRACE = timedelta(seconds=3)


def campaign_group(campaign_id: int) -> str:
    """The sockets watching one campaign (holders of campaigns.send_sms)."""
    return f"campaign.{campaign_id}"


def progress_frame(campaign: Campaign, progress: dict) -> dict:
    return {
        "action": "campaignProgress",
        "campaignId": campaign.pk,
        "status": campaign.status,
        "counts": progress["counts"],
        "segmentsSent": progress["segments_sent"],
        "segmentsTotal": progress["segments_total"],
        "etaSeconds": progress["eta_seconds"],
    }


def current_frame(campaign: Campaign) -> dict:
    return progress_frame(campaign, services.campaign_progress(campaign=campaign))


def publish_progress() -> int:
    """Every running (or just finished) campaign's progress to its watchers. Returns how
    many campaigns were published."""
    recent = timezone.now() - FINISHED_GRACE
    campaigns = list(
        Campaign.objects.filter(
            Q(status=Campaign.Status.RUNNING) | Q(finished_at__gte=recent)
        ).order_by("pk")
    )
    progress = services.campaigns_progress(campaigns=campaigns)
    publish_now(
        (
            campaign_group(campaign.pk),
            {
                "type": "campaign.progress",
                "campaign": campaign.pk,
                "text": json.dumps(
                    progress_frame(campaign, progress[campaign.pk]), separators=(",", ":")
                ),
            },
        )
        for campaign in campaigns
    )
    return len(campaigns)

"""The campaign frames of the WebSocket protocol (docs/PROTOCOL.md, "Campaigns"):
`campaignProgress`.

Progress goes out from one place, `publish_progress`, which beat's one-second `sms_tick`
calls: one frame per running campaign per second, however many texts went out in it,
to the sockets that asked with `watchCampaign` (holders of `campaigns.send_sms`).
"""

import json

from messaging_site.realtime import publish_now

from . import selectors
from .models import Campaign


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
    return progress_frame(campaign, selectors.campaign_progress(campaign=campaign))


def publish_progress() -> int:
    """Every running (or just finished) campaign's progress to its watchers. Returns how
    many campaigns were published."""
    campaigns = selectors.campaigns_in_progress()
    progress = selectors.campaigns_progress(campaigns=campaigns)
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

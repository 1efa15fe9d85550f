"""The campaign side of the WebSocket protocol: `watchCampaign` and its progress relay."""

import json

from messaging_site.consumers import ON_CONNECT, RELAYS, action
from messaging_site.db import db_call
from messaging_site.errors import Forbidden, Invalid, NotFound
from messaging_site.realtime import campaign_group

from . import events
from .models import Campaign


async def on_connect(consumer) -> None:
    consumer.campaigns = set()


ON_CONNECT.append(on_connect)


@db_call
def _first_frame(user, campaign_id: int) -> dict:
    if not user.has_perm("campaigns.send_sms"):
        raise Forbidden("You need the permission to send SMS (campaigns.send_sms).")
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return events.current_frame(campaign)


@action("watchCampaign")
async def watch_campaign(consumer, frame):
    """Progress now, then at least once a second while the campaign runs (sms_tick)."""
    campaign_id = frame.get("campaignId")
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, int) or campaign_id < 1:
        raise Invalid("`campaignId` must be a positive integer.")
    first = await _first_frame(consumer.user, campaign_id)
    await consumer.join_group(campaign_group(campaign_id))
    consumer.campaigns.add(campaign_id)
    await consumer.send(text_data=json.dumps({**first, "requestId": frame["requestId"]}))


async def relay_progress(consumer, event):
    if event["campaign"] in consumer.campaigns:
        await consumer.send(text_data=event["text"])


RELAYS["campaign.progress"] = relay_progress

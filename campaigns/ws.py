"""The campaign side of the WebSocket protocol (docs/PROTOCOL.md, "Campaigns"):
`watchCampaign` and its progress relay."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from messaging_site.consumers import Consumer, Frame, StartsEmpty, positive_int
from messaging_site.db import db_call
from messaging_site.errors import DomainError

from . import events, selectors
from .events import campaign_group


@dataclass
class Watches(StartsEmpty):
    """The campaigns one socket watches."""

    campaigns: set[int] = field(default_factory=set)

    async def catch_up(self, socket: Consumer, since: datetime) -> None:
        """After a channel-layer outage: where each watched campaign stands now."""
        for campaign_id in sorted(self.campaigns):
            try:
                frame = await _first_frame(socket.user, campaign_id)
            except DomainError:  # deleted, or the user lost campaigns.send_sms
                continue
            await socket.send(text_data=json.dumps(frame))


@db_call
def _first_frame(user, campaign_id: int) -> dict:
    campaign = selectors.campaign_for_sender(user=user, campaign_id=campaign_id)
    return events.current_frame(campaign)


async def watch_campaign(socket: Consumer, frame: Frame) -> None:
    """Progress now, then at least once a second while the campaign runs (sms_tick)."""
    campaign_id = positive_int(frame, "campaignId")
    first = await _first_frame(socket.user, campaign_id)
    await socket.join_group(campaign_group(campaign_id))
    socket.state(Watches).campaigns.add(campaign_id)
    await socket.send(text_data=json.dumps({**first, "requestId": frame["requestId"]}))


async def relay_progress(socket: Consumer, event: Frame) -> None:
    """`campaign.progress`: once a second per running campaign, to its watchers."""
    if event["campaign"] in socket.state(Watches).campaigns:
        await socket.send(text_data=event["text"])

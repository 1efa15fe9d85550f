"""watchCampaign and campaignProgress (docs/PROTOCOL.md), through the real ASGI stack and
Redis channel layer."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from campaigns import events, services
from campaigns.models import Campaign, SmsMessage
from messaging_site.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

NUMBERS = ["+14155550101", "+14155550102", "+14155550103"]


async def connected(user):
    socket = WebsocketCommunicator(application, f"/ws/?token={user.auth_token.key}")
    accepted, code = await socket.connect()
    assert accepted, code
    return socket


@pytest.fixture
def campaign(manager):
    return services.campaign_create(
        actor=manager, name="Spring sale", message="Hi there", recipients=NUMBERS
    )


@pytest.mark.asyncio
async def test_watch_answers_with_progress_now(manager, campaign):
    socket = await connected(manager)
    await socket.send_json_to(
        {"action": "watchCampaign", "campaignId": campaign.pk, "requestId": 1}
    )
    frame = await socket.receive_json_from()
    assert frame == {
        "action": "campaignProgress",
        "campaignId": campaign.pk,
        "status": "draft",
        "counts": {
            "queued": 3,
            "sending": 0,
            "sent": 0,
            "failed": 0,
            "dead": 0,
            "skipped": 0,
            "cancelled": 0,
            "expired": 0,
            "delivered": 0,
            "undelivered": 0,
        },
        "segmentsSent": 0,
        "segmentsTotal": 3,
        "etaSeconds": None,
        "requestId": 1,
    }
    await socket.disconnect()


@pytest.mark.asyncio
async def test_without_the_permission_watching_is_refused(alice, campaign):
    socket = await connected(alice)
    await socket.send_json_to({"action": "watchCampaign", "campaignId": campaign.pk})
    frame = await socket.receive_json_from()
    assert (frame["action"], frame["code"]) == ("error", "forbidden")
    await database_sync_to_async(_run)(campaign)
    await database_sync_to_async(events.publish_progress)()
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@pytest.mark.parametrize("campaign_id", [0, "1", True, 999_999])
@pytest.mark.asyncio
async def test_bad_or_unknown_campaign(manager, campaign_id):
    socket = await connected(manager)
    await socket.send_json_to({"action": "watchCampaign", "campaignId": campaign_id})
    frame = await socket.receive_json_from()
    assert frame["code"] == ("not_found" if campaign_id == 999_999 else "invalid")
    await socket.disconnect()


def _run(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    SmsMessage.objects.filter(campaign=campaign, to=NUMBERS[0]).update(status="sent")


@pytest.mark.asyncio
async def test_progress_reaches_watchers_only_once_per_publish(manager, campaign):
    watcher = await connected(manager)
    bystander = await connected(manager)
    await watcher.send_json_to({"action": "watchCampaign", "campaignId": campaign.pk})
    await watcher.receive_json_from()
    await database_sync_to_async(_run)(campaign)
    assert await database_sync_to_async(events.publish_progress)() == 1
    frame = await watcher.receive_json_from()
    assert (frame["status"], frame["segmentsSent"], frame["counts"]["sent"]) == ("running", 1, 1)
    assert frame["etaSeconds"] is not None
    assert await watcher.receive_nothing(timeout=0.3)
    assert await bystander.receive_nothing(timeout=0.1)
    await watcher.disconnect()
    await bystander.disconnect()


def test_publish_covers_running_and_just_finished_campaigns_only(manager, campaign, settings):
    from datetime import timedelta

    from django.utils import timezone

    assert events.publish_progress() == 0  # a draft
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    assert events.publish_progress() == 1
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.COMPLETED, finished_at=timezone.now()
    )
    assert events.publish_progress() == 1  # watchers see the end
    Campaign.objects.filter(pk=campaign.pk).update(
        finished_at=timezone.now() - timedelta(seconds=10)
    )
    assert events.publish_progress() == 0

import logging

import pytest

from campaigns import sending, services
from campaigns.models import Campaign, SmsMessage

pytestmark = pytest.mark.django_db
NUMBERS = ["+14155550101", "+14155550102"]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/campaigns/campaign/",
        "/admin/campaigns/campaign/?status__exact=draft",
        "/admin/campaigns/smsmessage/",
        "/admin/campaigns/smsmessage/?status__exact=dead",
        "/admin/campaigns/optout/",
        "/admin/campaigns/optout/add/",
    ],
)
def test_admin_pages_render(moderator, manager, fast_sms, path):
    services.campaign_create(actor=manager, name="c", message="m", recipients=NUMBERS)
    assert moderator.get(path).status_code == 200


def test_requeue_action_for_dead_and_failed(moderator, manager, fast_sms):
    services.sms_send(actor=manager, message="m", to=NUMBERS)
    dead, sent = SmsMessage.objects.order_by("id")
    SmsMessage.objects.filter(pk=dead.pk).update(status="dead", attempts=8)
    SmsMessage.objects.filter(pk=sent.pk).update(status="sent")
    response = moderator.post(
        "/admin/campaigns/smsmessage/",
        {"action": "requeue_messages", "_selected_action": [dead.pk, sent.pk]},
        follow=True,
    )
    assert b"Re-queued 1 message(s)." in response.content
    dead.refresh_from_db()
    sent.refresh_from_db()
    assert (dead.status, dead.attempts, sent.status) == ("queued", 0, "sent")


def test_cancel_action(moderator, manager, fast_sms):
    campaign = services.campaign_create(actor=manager, name="c", message="m", recipients=NUMBERS)
    moderator.post(
        "/admin/campaigns/campaign/",
        {"action": "cancel_campaigns", "_selected_action": [campaign.pk]},
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert set(campaign.messages.values_list("status", flat=True)) == {"cancelled"}


def test_opt_out_added_in_admin_is_normalised(moderator):
    from campaigns.models import OptOut

    moderator.post(
        "/admin/campaigns/optout/add/", {"number": "+1 (415) 555-0101", "source": "admin"}
    )
    assert list(OptOut.objects.values_list("number", flat=True)) == ["+14155550101"]
    response = moderator.post("/admin/campaigns/optout/add/", {"number": "12", "source": "x"})
    assert b"Not a valid phone number." in response.content


def test_each_attempt_logs_one_structured_line(manager, fast_sms, caplog):
    result = services.sms_send(actor=manager, message="m", to=NUMBERS[:1])
    message_id = result["messages"][0]["id"]
    with caplog.at_level(logging.INFO, logger="campaigns.send"):
        sending.attempt(message_id=message_id)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "campaigns.send"]
    assert line.startswith(f"sms={message_id} campaign=- attempt=1 segments=1 outcome=sent ")
    assert "latency_ms=" in line

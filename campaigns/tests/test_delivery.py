"""SPEC section 14, delivery reports: per part, idempotent, to delivered / undelivered /
expired, with the campaign's counts; the HTTP backend's callback behind its token."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import delivery, selectors, services
from campaigns.models import DeliveryReport, SmsMessage

pytestmark = pytest.mark.django_db
URL = "/api/sms/dlr/http/"
TOKEN = "callback-secret-0123456789"


@pytest.fixture
def dlr(settings, api):
    settings.SMS_CALLBACK_TOKEN = TOKEN

    def post(body, token=TOKEN):
        return api.post(URL, body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")

    return post


@pytest.fixture
def campaign(manager):
    """Three texts: two of one segment, and one of three."""
    one = services.campaign_create(
        actor=manager, name="c", message="Hi", recipients=["+14155550101", "+14155550102"]
    )
    long = services.sms_send(actor=manager, message="x" * 400, to=["+14155550103"])
    assert long["segments"] == 3
    SmsMessage.objects.update(status="sent")
    return one


def record(to: str) -> SmsMessage:
    return SmsMessage.objects.get(to=to)


def test_a_text_is_delivered_when_the_provider_says_so_once(dlr, campaign):
    sms = record("+14155550101")
    response = dlr({"reference": str(sms.pk), "status": "delivered"})
    assert response.status_code == 200, response.content
    assert response.json() == {"known": True, "delivery_status": "delivered"}
    sms.refresh_from_db()
    assert sms.delivery_status == "delivered"
    first = sms.delivered_at
    assert first is not None
    # Replayed, and a late contrary report: nothing changes twice.
    dlr({"reference": str(sms.pk), "status": "delivered"})
    dlr({"reference": str(sms.pk), "status": "undelivered"})
    sms.refresh_from_db()
    assert (sms.delivery_status, sms.delivered_at) == ("delivered", first)
    assert DeliveryReport.objects.filter(sms=sms).count() == 1


def test_a_long_text_is_delivered_when_every_part_is(dlr, campaign):
    sms = record("+14155550103")
    for part in (1, 3, 3):
        dlr({"reference": str(sms.pk), "status": "delivered", "part": part, "parts": 3})
        sms.refresh_from_db()
        assert sms.delivery_status == ""
    dlr({"reference": str(sms.pk), "status": "delivered", "part": 2, "parts": 3})
    sms.refresh_from_db()
    assert sms.delivery_status == "delivered"


def test_one_part_undelivered_or_expired_decides(dlr, campaign):
    sms = record("+14155550103")
    dlr({"reference": str(sms.pk), "status": "delivered", "part": 1})
    dlr({"reference": str(sms.pk), "status": "expired", "part": 2})
    sms.refresh_from_db()
    assert sms.delivery_status == "expired"
    dlr({"reference": str(sms.pk), "status": "undelivered", "part": 3})
    sms.refresh_from_db()
    assert (sms.delivery_status, sms.delivered_at) == ("undelivered", None)


def test_campaign_counts_gain_delivered_and_undelivered(dlr, campaign):
    first, second = campaign.messages.order_by("id")
    dlr({"reference": str(first.pk), "status": "delivered"})
    dlr({"reference": str(second.pk), "status": "expired"})
    counts = selectors.campaign_progress(campaign=campaign)["counts"]
    assert (counts["sent"], counts["delivered"], counts["undelivered"]) == (2, 1, 1)
    with CaptureQueriesContext(connection) as queries:
        selectors.campaigns_progress(campaigns=[campaign])
    assert len(queries) == 1


def test_unknown_references_answer_200_and_are_logged(dlr, campaign, caplog):
    for reference in ["999999", "not-ours", "9" * 40, ""]:
        response = dlr({"reference": reference, "status": "delivered"})
        if reference == "":
            assert response.status_code == 400  # a reference is required
            continue
        assert response.status_code == 200, reference
        assert response.json() == {"known": False, "delivery_status": None}
    assert "unknown reference" in caplog.text
    assert not DeliveryReport.objects.exists()


def test_bad_reports_are_400_and_change_nothing(dlr, campaign):
    sms = record("+14155550101")
    for body in [
        {"reference": str(sms.pk), "status": "read"},
        {"reference": str(sms.pk), "status": "delivered", "part": 0},
        {"reference": str(sms.pk), "status": "delivered", "part": 4, "parts": 3},
        {"status": "delivered"},
    ]:
        assert dlr(body).status_code == 400, body
    assert not DeliveryReport.objects.exists()


@pytest.mark.parametrize("token", ["wrong", ""])
def test_a_report_without_the_token_is_403_and_changes_nothing(dlr, campaign, token):
    sms = record("+14155550101")
    assert dlr({"reference": str(sms.pk), "status": "delivered"}, token=token).status_code == 403
    sms.refresh_from_db()
    assert sms.delivery_status == ""


def test_a_provider_that_split_into_more_parts_than_we_counted_is_believed(dlr, campaign):
    sms = record("+14155550101")  # one segment by our count
    dlr({"reference": str(sms.pk), "status": "delivered", "part": 1, "parts": 2})
    sms.refresh_from_db()
    assert sms.delivery_status == ""
    dlr({"reference": str(sms.pk), "status": "delivered", "part": 2, "parts": 2})
    sms.refresh_from_db()
    assert sms.delivery_status == "delivered"


def test_the_service_is_what_every_backend_calls(campaign):
    sms = record("+14155550102")
    assert delivery.report(backend="kannel", reference=str(sms.pk), status="delivered")
    assert DeliveryReport.objects.get().backend == "kannel"


def test_reports_for_texts_not_handed_over_change_nothing(dlr, campaign):
    queued, sending_now = campaign.messages.order_by("id")
    SmsMessage.objects.filter(pk=queued.pk).update(status="queued")
    SmsMessage.objects.filter(pk=sending_now.pk).update(status="sending")
    assert dlr({"reference": str(queued.pk), "status": "delivered"}).json() == {
        "known": True,
        "delivery_status": "",
    }
    # A report may beat the worker's own record of `sent`: it counts.
    assert dlr({"reference": str(sending_now.pk), "status": "delivered"}).json() == {
        "known": True,
        "delivery_status": "delivered",
    }
    assert list(DeliveryReport.objects.values_list("sms_id", flat=True)) == [sending_now.pk]

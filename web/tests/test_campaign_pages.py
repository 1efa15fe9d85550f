"""The campaign pages: only for holders of campaigns.send_sms; forms write through the
campaign services, and bad recipients are listed by value with nothing saved."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, SmsMessage
from campaigns.tests.conftest import ensure_managers_group

pytestmark = pytest.mark.django_db
ANN, BO = "+14155550101", "+14155550102"


@pytest.fixture
def manager(make_user):
    user = make_user("marketer")
    user.groups.add(ensure_managers_group())
    return user


@pytest.fixture
def browser_for():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def draft(manager):
    return services.campaign_create(
        actor=manager, name="Sale", message="Hi", recipients=["+14155550101", "+14155550102"]
    )


def test_without_the_permission_no_page_and_no_menu_entry(browser_for, alice, draft):
    client = browser_for(alice)
    for url in ["/campaigns/", "/campaigns/new/", f"/campaigns/{draft.pk}/"]:
        assert client.get(url).status_code == 403, url
    for url in ["launch", "cancel", "requeue"]:
        assert client.post(f"/campaigns/{draft.pk}/{url}/").status_code == 403
    assert "/campaigns/" not in client.get("/").content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_managers_see_the_menu_entry_and_pages(browser_for, manager, draft):
    client = browser_for(manager)
    assert 'href="/campaigns/"' in client.get("/").content.decode()
    listing = client.get("/campaigns/").content.decode()
    assert "Sale" in listing
    assert "marketer" in listing
    detail = client.get(f"/campaigns/{draft.pk}/").content.decode()
    assert 'id="count-queued">2<' in detail
    assert client.get("/campaigns/999999/").status_code == 404


def test_create_from_pasted_numbers_and_a_csv_file(browser_for, manager):
    upload = SimpleUploadedFile(
        "numbers.csv", b"name,phone\nAnn,+14155550103\nBo,+1 415 555 0104\n", "text/csv"
    )
    response = browser_for(manager).post(
        "/campaigns/new/",
        {
            "name": "Launch",
            "message": "Big news",
            "recipients": "+14155550101, +14155550102\n+14155550101",
            "recipients_file": upload,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    campaign = Campaign.objects.get()
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert sorted(SmsMessage.objects.values_list("to", flat=True)) == [
        "+14155550101", "+14155550102", "+14155550103", "+14155550104",
    ]  # fmt: skip
    assert campaign.status == "draft"


def test_numbers_pasted_as_people_write_them(browser_for, manager):
    """SPEC section 14: new lines, commas and semicolons separate; spaces, dots, dashes and
    brackets belong to the number."""
    upload = SimpleUploadedFile("numbers.csv", b"phone\n+1 (415) 555-0145; +1.415.555.0146\n")
    response = browser_for(manager).post(
        "/campaigns/new/",
        {
            "name": "Pasted",
            "message": "Hi",
            "recipients": "+1 (415) 555-0143\r\n+1 415 555 0142\n\n+1-415-555-0141;+14155550140,",
            "recipients_file": upload,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert list(SmsMessage.objects.order_by("id").values_list("to", flat=True)) == [
        "+14155550143", "+14155550142", "+14155550141", "+14155550140",
        "+14155550145", "+14155550146",
    ]  # fmt: skip


def test_bad_numbers_are_listed_by_value_and_nothing_is_saved(browser_for, manager):
    response = browser_for(manager).post(
        "/campaigns/new/",
        {"name": "X", "message": "Hi", "recipients": "+14155550101\n12345, not-a-number"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in body
    assert "&#x27;12345&#x27; is not a valid phone number." in body
    assert "&#x27;not-a-number&#x27; is not a valid phone number." in body
    assert not Campaign.objects.exists()
    assert not SmsMessage.objects.exists()


def test_launch_cancel_and_requeue(browser_for, manager, draft, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = browser_for(manager)
    client.post(f"/campaigns/{draft.pk}/launch/")
    draft.refresh_from_db()
    assert draft.status == "running"
    again = client.post(f"/campaigns/{draft.pk}/launch/", follow=True)
    assert "Only a draft campaign can be launched." in again.content.decode()
    SmsMessage.objects.filter(campaign=draft).update(status="dead", last_error="HTTP 500")
    page = client.get(f"/campaigns/{draft.pk}/").content.decode()
    assert "HTTP 500" in page
    one = SmsMessage.objects.filter(campaign=draft).first()
    client.post(f"/campaigns/{draft.pk}/requeue/", {"message": one.pk})
    assert SmsMessage.objects.filter(campaign=draft, status="queued").count() == 1
    client.post(f"/campaigns/{draft.pk}/requeue/")
    assert SmsMessage.objects.filter(campaign=draft, status="queued").count() == 2
    client.post(f"/campaigns/{draft.pk}/cancel/")
    draft.refresh_from_db()
    assert draft.status == "cancelled"


def test_campaign_list_query_count_does_not_grow(browser_for, manager):
    client = browser_for(manager)

    def make(count, start):
        for i in range(start, start + count):
            services.campaign_create(
                actor=manager, name=f"c{i}", message="Hi", recipients=[f"+1415555{i:04d}"]
            )

    make(3, 1000)
    with CaptureQueriesContext(connection) as few:
        client.get("/campaigns/")
    make(27, 2000)
    with CaptureQueriesContext(connection) as many:
        client.get("/campaigns/")
    assert len(many) == len(few)


def test_a_csv_s_columns_fill_the_placeholders(browser_for, manager):
    upload = SimpleUploadedFile(
        "people.csv",
        b"Mobile,First name,City\n+1 415 555 0101,Ann,Oslo\n+14155550102,Bo,Rome\n",
        "text/csv",
    )
    response = browser_for(manager).post(
        "/campaigns/new/",
        {"name": "Spring", "message": "Hi {{first_name}} in {{City}}!", "recipients_file": upload},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert dict(SmsMessage.objects.values_list("to", "body")) == {
        ANN: "Hi Ann in Oslo!",
        BO: "Hi Bo in Rome!",
    }
    page = browser_for(manager).get(response["Location"]).content.decode()
    assert 'id="preview"' in page
    assert "Hi Ann in Oslo!" in page


def test_a_csv_missing_values_shows_who_and_saves_nothing(browser_for, manager):
    upload = SimpleUploadedFile("people.csv", b"phone,name\n+14155550101,Ann\n+14155550102,\n")
    response = browser_for(manager).post(
        "/campaigns/new/",
        {"name": "Spring", "message": "Hi {{name}}", "recipients_file": upload},
    )
    assert response.status_code == 200
    assert f"No value for {{{{name}}}} for {BO}." in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_web_form_schedules_in_the_browser_s_zone(browser_for, manager):
    tokyo = ZoneInfo("Asia/Tokyo")
    local = (timezone.now() + timedelta(hours=3)).astimezone(tokyo).replace(second=0, microsecond=0)
    response = browser_for(manager).post(
        "/campaigns/new/",
        {
            "name": "Later",
            "message": "Hi",
            "recipients": ANN,
            "send_at": local.strftime("%Y-%m-%dT%H:%M"),
            "time_zone": "Asia/Tokyo",
            "quiet_start": "21:00",
            "quiet_end": "08:00",
            "valid_for_hours": "6",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    campaign = Campaign.objects.get()
    assert campaign.send_at == local
    assert campaign.quiet_hours == {"start": "21:00", "end": "08:00"}
    assert campaign.valid_for_seconds == 6 * 3600
    launch = browser_for(manager).post(f"/campaigns/{campaign.pk}/launch/", follow=True)
    assert "Scheduled" in launch.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"

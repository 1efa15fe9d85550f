"""SPEC section 14, scheduling, quiet hours and validity: a campaign with `send_at` is
`scheduled` until then and starts on the tick; quiet hours in the recipient's local time
defer texts to the morning (never drop them) and count in the ETA; a text not handed
over within `valid_for_seconds` of the start expires instead of going out late."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from django.utils import timezone

from campaigns import quiet, selectors, sending, services
from campaigns.models import Campaign, SmsMessage

pytestmark = pytest.mark.django_db
LA = ZoneInfo("America/Los_Angeles")
SAN_FRANCISCO = ["+14155550101", "+14155550102"]
PARIS = "+33612345678"


@pytest.fixture
def api_manager(client_for, manager, fast_sms):
    return client_for(manager)


def create(api, **fields):
    payload = {"name": "n", "message": "Hello", "recipients": SAN_FRANCISCO, **fields}
    return api.post("/api/campaigns/", payload, format="json")


def hours_around_now(zone: ZoneInfo, before: int = 1, after: int = 1) -> dict:
    local = timezone.now().astimezone(zone)
    start = (local - timedelta(hours=before)).strftime("%H:%M")
    end = (local + timedelta(hours=after)).strftime("%H:%M")
    return {"start": start, "end": end}


# --- quiet hours, the arithmetic ------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "until"),
    [
        (datetime(2026, 12, 4, 22, 30), datetime(2026, 12, 5, 8, 0)),  # evening: tomorrow
        (datetime(2026, 12, 5, 6, 0), datetime(2026, 12, 5, 8, 0)),  # early: this morning
        (datetime(2026, 12, 4, 12, 0), None),  # daytime: now
        (datetime(2026, 12, 4, 21, 0), datetime(2026, 12, 5, 8, 0)),  # the start is quiet
        (datetime(2026, 12, 5, 8, 0), None),  # the end is not
    ],
)
def test_a_night_defers_to_the_next_morning_in_local_time(local, until):
    at = local.replace(tzinfo=LA)
    got = quiet.deferred_until("America/Los_Angeles", time(21), time(8), at)
    assert got == (until.replace(tzinfo=LA) if until else None)


def test_quiet_hours_within_one_day():
    at = datetime(2026, 12, 4, 13, 30, tzinfo=LA)
    assert quiet.deferred_until("America/Los_Angeles", time(13), time(14), at) == datetime(
        2026, 12, 4, 14, 0, tzinfo=LA
    )
    assert quiet.deferred_until("America/Los_Angeles", time(14), time(15), at) is None


def test_several_zones_take_the_one_latest_in_the_night():
    # 07:30 in New York is 04:30 in Los Angeles: still night there, until 08:00 there.
    at = datetime(2026, 12, 4, 7, 30, tzinfo=ZoneInfo("America/New_York"))
    zones = "America/New_York,America/Los_Angeles"
    assert quiet.deferred_until(zones, time(21), time(8), at) == datetime(
        2026, 12, 4, 8, 0, tzinfo=LA
    )


def test_a_number_s_zones_come_from_its_range_or_its_country(monkeypatch):
    assert quiet.zones_of(phonenumbers.parse("+14155550101")) == "America/Los_Angeles"
    # A range phonenumbers names no zone for takes the country's.
    monkeypatch.setattr(quiet.number_zones, "time_zones_for_number", lambda n: (quiet.UNKNOWN,))
    monkeypatch.setattr(
        quiet, "_country_zones", lambda region: ("Europe/London",) if region == "GB" else ()
    )
    assert quiet.zones_of(phonenumbers.parse("+447400123456")) == "Europe/London"


@pytest.mark.parametrize(
    "hours",
    [{"start": "21:00"}, {"start": "25:00", "end": "08:00"}, {"start": "8", "end": "8"}, "21-8"],
)
def test_bad_quiet_hours_are_400_and_create_nothing(api_manager, hours):
    response = create(api_manager, quiet_hours=hours)
    assert response.status_code == 400
    assert "quiet_hours" in response.json()
    assert not Campaign.objects.exists()


# --- scheduling -------------------------------------------------------------------------


@pytest.mark.parametrize("ahead", [timedelta(seconds=30), timedelta(days=36), -timedelta(hours=1)])
def test_send_at_must_be_one_minute_to_35_days_ahead(api_manager, ahead):
    response = create(api_manager, send_at=(timezone.now() + ahead).isoformat())
    assert response.status_code == 400
    assert "send_at" in response.json()
    assert not Campaign.objects.exists()


def test_a_scheduled_campaign_waits_then_starts_on_the_tick(api_manager, fast_sms):
    send_at = timezone.now() + timedelta(minutes=10)
    created = create(api_manager, send_at=send_at.isoformat()).json()
    assert created["send_at"] is not None
    launched = api_manager.post(f"/api/campaigns/{created['id']}/launch/").json()
    assert launched["status"] == "scheduled"
    assert launched["eta_seconds"] >= 600 - 2
    record = SmsMessage.objects.first()
    assert sending.attempt(message_id=record.pk) is None  # not due: nothing sent
    assert services.start_due_campaigns() == []
    assert fast_sms == []

    Campaign.objects.filter(pk=created["id"]).update(send_at=timezone.now())  # the time comes
    assert services.start_due_campaigns() == [created["id"]]
    campaign = Campaign.objects.get()
    assert campaign.status == "running"
    assert campaign.started_at == campaign.send_at  # validity counts from send_at
    assert sending.attempt(message_id=record.pk) == "sent"
    assert services.start_due_campaigns() == []  # once


def test_cancel_works_while_scheduled(api_manager, fast_sms):
    created = create(api_manager, send_at=(timezone.now() + timedelta(hours=1)).isoformat()).json()
    api_manager.post(f"/api/campaigns/{created['id']}/launch/")
    response = api_manager.post(f"/api/campaigns/{created['id']}/cancel/")
    assert response.json()["status"] == "cancelled"
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {"cancelled"}
    Campaign.objects.update(send_at=timezone.now())
    assert services.start_due_campaigns() == []


def test_launching_after_send_at_has_passed_starts_at_once(api_manager, manager):
    created = create(api_manager, send_at=(timezone.now() + timedelta(minutes=5)).isoformat())
    Campaign.objects.update(send_at=timezone.now() - timedelta(minutes=1))
    launched = api_manager.post(f"/api/campaigns/{created.json()['id']}/launch/").json()
    assert launched["status"] == "running"


# --- quiet hours, in a campaign ---------------------------------------------------------


def test_quiet_hours_defer_texts_to_the_morning_and_the_eta_counts_it(api_manager, fast_sms):
    # Quiet now in San Francisco, and not in Paris (nine hours ahead).
    hours = hours_around_now(LA, before=1, after=2)
    created = create(api_manager, quiet_hours=hours, recipients=[*SAN_FRANCISCO, PARIS]).json()
    assert created["quiet_hours"] == hours
    launched = api_manager.post(f"/api/campaigns/{created['id']}/launch/").json()

    deferred = SmsMessage.objects.filter(to__in=SAN_FRANCISCO)
    assert all(record.next_attempt_at is not None for record in deferred)
    morning = deferred[0].next_attempt_at
    assert timedelta(hours=1) < morning - timezone.now() <= timedelta(hours=2)
    assert morning.astimezone(LA).strftime("%H:%M") == hours["end"]
    assert launched["eta_seconds"] >= (morning - timezone.now()).total_seconds() - 2

    paris = SmsMessage.objects.get(to=PARIS)
    assert sending.attempt(message_id=paris.pk) == "sent"
    assert [sms.to for sms in fast_sms] == [PARIS]
    assert sending.dispatch_due() == []  # the others are not due before the morning
    assert set(deferred.values_list("status", flat=True)) == {"queued"}  # never dropped


def test_a_text_that_falls_into_quiet_hours_is_deferred_when_its_turn_comes(manager, fast_sms):
    campaign = services.campaign_create(
        actor=manager, name="n", message="Hi", recipients=SAN_FRANCISCO[:1]
    )
    services.campaign_launch(campaign=campaign)  # no quiet hours at the launch...
    start, end = (time.fromisoformat(v) for v in hours_around_now(LA).values())
    Campaign.objects.update(quiet_start=start, quiet_end=end)  # ...and now there are
    SmsMessage.objects.update(time_zones="America/Los_Angeles")
    record = SmsMessage.objects.get()

    assert sending.attempt(message_id=record.pk) == "deferred"
    record.refresh_from_db()
    assert (record.status, record.attempts) == ("queued", 0)  # not counted as an attempt
    assert record.next_attempt_at > timezone.now()
    assert fast_sms == []


def test_quiet_hours_lasting_past_the_validity_expire_the_text(api_manager, fast_sms):
    hours = hours_around_now(LA, before=1, after=3)
    created = create(api_manager, quiet_hours=hours, valid_for_seconds=3600).json()
    launched = api_manager.post(f"/api/campaigns/{created['id']}/launch/").json()
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {"expired"}
    assert launched["counts"]["expired"] == 2
    sending.sweep()
    assert Campaign.objects.get().status == "completed"


# --- validity -------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [59, 35 * 86_400 + 1, "day"])
def test_valid_for_seconds_is_bounded(api_manager, seconds):
    response = create(api_manager, valid_for_seconds=seconds)
    assert response.status_code == 400
    assert "valid_for_seconds" in response.json()


def test_a_text_not_handed_over_in_time_expires_and_is_never_sent(manager, fast_sms):
    campaign = services.campaign_create(
        actor=manager, name="n", message="Hi", recipients=SAN_FRANCISCO, valid_for_seconds=60
    )
    assert campaign.valid_for_seconds == 60
    services.campaign_launch(campaign=campaign)
    Campaign.objects.update(started_at=timezone.now() - timedelta(seconds=61))
    first, _ = SmsMessage.objects.order_by("pk")

    assert sending.attempt(message_id=first.pk) == "expired"
    assert sending.sweep()["expired"] == 1  # the other, still queued
    assert fast_sms == []
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {"expired"}
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    progress = selectors.campaign_progress(campaign=campaign)
    assert progress["counts"]["expired"] == 2
    assert progress["segments_total"] == 0


def test_the_default_validity_is_a_day(api_manager):
    assert create(api_manager).json()["valid_for_seconds"] == 86_400


def test_validity_is_checked_again_after_the_wait_for_the_limiter(manager, fast_sms, monkeypatch):
    campaign = services.campaign_create(
        actor=manager, name="n", message="Hi", recipients=SAN_FRANCISCO[:1], valid_for_seconds=60
    )
    services.campaign_launch(campaign=campaign)
    real_now, real_limiter = timezone.now, sending.get_limiter()

    class LateLimiter:
        def wait(self, segments):
            # The wait outlasts the validity: a minute passes.
            monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=61))
            return real_limiter.wait(segments)

    monkeypatch.setattr(sending, "get_limiter", LateLimiter)
    record = SmsMessage.objects.get()
    assert sending.attempt(message_id=record.pk) == "expired"
    assert fast_sms == []


def test_an_aware_send_at_in_any_zone_is_kept_as_that_instant(api_manager):
    moment = (timezone.now() + timedelta(hours=2)).astimezone(ZoneInfo("Asia/Tokyo"))
    created = create(api_manager, send_at=moment.isoformat()).json()
    stored = Campaign.objects.get(pk=created["id"]).send_at
    assert abs(stored - moment.astimezone(UTC)) < timedelta(seconds=1)

"""The delivery state machine: exactly once, retries, dead letters, opt-outs, the sweep."""

import json
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone

from campaigns import queue as broker
from campaigns import sending, services, tasks
from campaigns.backends.http import parse_retry_after
from campaigns.models import Campaign, OptOut, SmsMessage
from campaigns.tasks import send_sms
from campaigns.tests.pacing import WatchedPace
from messaging_site import db, redis_client

pytestmark = pytest.mark.django_db
NUMBER = "+14155550101"
OTHER = "+14155550102"


def queue(actor, numbers=(NUMBER,), message="Hello"):
    result = services.sms_send(actor=actor, message=message, to=list(numbers))
    return [SmsMessage.objects.get(pk=row["id"]) for row in result["messages"]]


def test_attempt_sends_once_and_records_the_provider_id(manager, sink):
    (message,) = queue(manager)
    assert sending.attempt(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert message.provider_id == f"p-{message.pk}"
    assert message.sent_at is not None
    (arrived,) = [payload for _, payload in sink.arrivals]
    assert arrived == {
        "to": NUMBER,
        "from": "Messaging",
        "body": "Hello",
        "segments": 1,
        "reference": str(message.pk),
    }


def test_a_task_delivered_twice_sends_once(manager, sink):
    (message,) = queue(manager)
    send_sms(message.pk)
    send_sms(message.pk)
    assert sink.references() == [str(message.pk)]
    assert SmsMessage.objects.get(pk=message.pk).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_record_send_once(manager, sink):
    (message,) = queue(manager)
    start = threading.Barrier(4)
    outcomes = []

    def run():
        start.wait()
        try:
            outcomes.append(sending.attempt(message_id=message.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [None, None, None, "sent"]
    assert sink.references() == [str(message.pk)]


def test_transient_errors_retry_with_backoff_then_succeed(manager, sink):
    (message,) = queue(manager)
    sink.script[str(message.pk)] = [(503, {}, {}), (500, {}, {})]
    assert sending.attempt(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.next_attempt_at > timezone.now()
    assert "503" in message.last_error
    # Not due yet: a task now does nothing, and the dispatcher makes none.
    assert sending.attempt(message_id=message.pk) is None
    assert sending.dispatch_due() == []
    SmsMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert sending.attempt(message_id=message.pk) == "retry"
    SmsMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert sending.attempt(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == ("sent", 3, "")
    assert len(sink.arrivals) == 3


def test_429_honours_retry_after(manager, sink):
    (message,) = queue(manager)
    sink.script[str(message.pk)] = [(429, {"Retry-After": "120"}, {})]
    before = timezone.now()
    assert sending.attempt(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.next_attempt_at >= before + timedelta(seconds=119)


def test_retry_after_as_http_date():
    later = timezone.now() + timedelta(seconds=30)
    from email.utils import format_datetime

    assert 28 <= parse_retry_after(format_datetime(later, usegmt=True)) <= 31
    assert parse_retry_after("7") == 7
    assert parse_retry_after("soon") is None


def test_permanent_error_fails_at_once(manager, sink):
    (message,) = queue(manager)
    sink.script[str(message.pk)] = [(400, {}, {"error": "bad number"})]
    assert sending.attempt(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 1)
    assert "bad number" in message.last_error


def test_dead_after_the_last_attempt_then_requeue(manager, sink, settings, monkeypatch):
    settings.SMS_MAX_ATTEMPTS = 3
    (message,) = queue(manager)
    sink.script[str(message.pk)] = [(503, {}, {})] * 3
    outcomes = []
    for _ in range(3):
        outcomes.append(sending.attempt(message_id=message.pk))
        SmsMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)
    assert outcomes == ["retry", "retry", "dead"]
    message.refresh_from_db()
    assert message.status == "dead"
    # "All selected" in admin can outnumber what one statement takes (65,535 parameters,
    # messaging_site.db.ID_BATCH); batches of 2 stand for it.
    monkeypatch.setattr(db, "ID_BATCH", 2)
    absent = [SmsMessage(pk=pk) for pk in range(message.pk + 1, message.pk + 4)]
    assert services.sms_requeue(messages=[*absent, message]) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)
    assert sending.attempt(message_id=message.pk) == "sent"


def test_backoff_doubles_with_jitter_to_the_cap(settings):
    settings.SMS_RETRY_BASE_SECONDS = 1
    settings.SMS_RETRY_CAP_SECONDS = 300
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (12, 300)]:
        delays = [sending.backoff_seconds(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert sending.backoff_seconds(1, retry_after=60) >= 60
    assert sending.backoff_seconds(1, retry_after=10_000) <= 300


def test_opt_out_at_queue_time_is_skipped(manager, fast_sms):
    services.optout_add(number=NUMBER)
    result = services.sms_send(actor=manager, message="Hi", to=[NUMBER, OTHER])
    assert [m["status"] for m in result["messages"]] == ["skipped", "queued"]


def test_opt_out_after_queueing_is_checked_before_sending(manager, fast_sms):
    (message,) = queue(manager)
    OptOut.objects.create(number=NUMBER)
    assert sending.attempt(message_id=message.pk) == "skipped"
    assert fast_sms == []


def test_sweep_recovers_a_message_whose_worker_died_mid_send(manager, sink):
    (message,) = queue(manager)
    # What a worker killed after its claim leaves behind: `sending`, lease ran out.
    SmsMessage.objects.filter(pk=message.pk).update(
        status="sending", attempts=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sending.attempt(message_id=message.pk) is None  # a redelivered task waits
    assert sending.sweep()["requeued"] == 1
    assert sending.attempt(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2)


def test_sweep_leaves_live_leases_alone(manager, sink):
    (message,) = queue(manager)
    SmsMessage.objects.filter(pk=message.pk).update(
        status="sending", lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    assert sending.sweep()["requeued"] == 0


def test_a_late_outcome_after_the_sweep_does_not_overwrite(manager, sink):
    (message,) = queue(manager)
    sink.script[str(message.pk)] = [(503, {}, {})]
    original = sending._finish

    def sweep_first(message_id, token, **changes):
        SmsMessage.objects.filter(pk=message_id).update(status="queued", lease_token=None)
        return original(message_id, token, **changes)

    sending._finish = sweep_first
    try:
        sending.attempt(message_id=message.pk)
    finally:
        sending._finish = original
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.next_attempt_at is None


def test_dispatch_marks_records_and_never_twice(
    manager, fast_sms, django_capture_on_commit_callbacks
):
    queue(manager, numbers=[NUMBER, OTHER])
    with django_capture_on_commit_callbacks() as callbacks:
        first = sending.dispatch_due()
    assert len(first) == 2
    assert len(callbacks) == 1
    assert sending.dispatch_due() == []  # both have a live task
    assert SmsMessage.objects.filter(dispatched_at__isnull=False).count() == 2


def test_dispatch_respects_the_in_flight_cap(manager, fast_sms, settings):
    settings.SMS_MAX_IN_FLIGHT = 3
    queue(manager, numbers=[f"+1415555{n:04d}" for n in range(110, 120)])
    assert len(sending.dispatch_due()) == 3
    assert sending.dispatch_due() == []


def test_dispatch_skips_draft_and_cancelled_campaigns(manager, fast_sms):
    campaign = services.campaign_create(actor=manager, name="c", message="m", recipients=[NUMBER])
    assert sending.dispatch_due() == []
    services.campaign_launch(campaign=campaign)
    assert len(sending.dispatch_due()) == 1


def test_campaign_completes_when_its_last_message_is_done(manager, fast_sms):
    campaign = services.campaign_create(
        actor=manager, name="c", message="m", recipients=[NUMBER, OTHER]
    )
    services.campaign_launch(campaign=campaign)
    for message in campaign.messages.all():
        sending.attempt(message_id=message.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert len(fast_sms) == 2


def test_cancel_stops_the_rest_of_a_campaign(manager, fast_sms):
    campaign = services.campaign_create(
        actor=manager, name="c", message="m", recipients=[NUMBER, OTHER, "+14155550103"]
    )
    services.campaign_launch(campaign=campaign)
    first, *rest = campaign.messages.order_by("id")
    sending.attempt(message_id=first.pk)
    services.campaign_cancel(campaign=campaign)
    for message in rest:
        assert sending.attempt(message_id=message.pk) is None
    assert len(fast_sms) == 1
    statuses = sorted(campaign.messages.values_list("status", flat=True))
    assert statuses == ["cancelled", "cancelled", "sent"]


def test_retries_are_dispatched_first_and_ahead_of_the_backlog_on_the_broker(
    manager, fast_sms, settings, django_capture_on_commit_callbacks
):
    from django.conf import settings as live

    from messaging_site import redis_client

    backlog = queue(manager, numbers=[f"+1415555{n:04d}" for n in range(200, 206)])
    retry = backlog[-1]
    SmsMessage.objects.filter(pk=retry.pk).update(
        attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    settings.SMS_MAX_IN_FLIGHT = 3
    client = redis_client.client()
    prefix = live.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    name = live.CELERY_TASK_DEFAULT_QUEUE
    urgent, behind = f"{prefix}{name}", f"{prefix}{name}\x06\x166"
    client.delete(urgent, behind)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ids = sending.dispatch_due()
        assert ids == [retry.pk, backlog[0].pk, backlog[1].pk]

        def queued(key):
            return [json.loads(task)["headers"]["argsrepr"] for task in client.lrange(key, 0, -1)]

        # Workers take from the priority-0 list first (kombu's Redis transport).
        assert queued(urgent) == [f"[{retry.pk}]"]
        assert sorted(queued(behind)) == sorted(f"[{m.pk}]" for m in backlog[:2])
    finally:
        client.delete(urgent, behind)


def test_a_dispatch_lost_with_the_broker_stops_holding_a_place(manager, fast_sms, settings):
    """Redis restarted empty: the tasks are gone, their marks are not. After
    SMS_REDISPATCH_SECONDS they neither count in flight nor keep a record from a task."""
    settings.SMS_MAX_IN_FLIGHT = 3
    queue(manager, numbers=[f"+1415555{n:04d}" for n in range(300, 305)])
    first = sending.dispatch_due()
    assert len(first) == 3
    assert sending.dispatch_due() == []
    lost = timezone.now() - timedelta(seconds=settings.SMS_REDISPATCH_SECONDS + 1)
    SmsMessage.objects.filter(pk__in=first).update(dispatched_at=lost)
    assert sending.dispatch_due() == first


def test_the_backend_connects_before_the_slot_and_writes_inside_it(manager, sink):
    """Connecting and building the request happen before `ready()`; every byte of it is
    written between `ready()` and `left()`."""
    from campaigns.backends import OutboundSms, get_backend

    backend = get_backend()
    pace = WatchedPace(backend.wire)

    sms = OutboundSms(to=NUMBER, sender="x", body="hi", segments=1, reference="r1")
    backend.send(sms, pace)
    backend.send(sms, pace)  # kept alive: no new connection
    (arrived, payload), (again, _) = sink.arrivals
    (ready, at, before), (left, left_at, after), (_, second_at, _), _ = pace.events
    assert (ready, left) == ("ready", "left")
    assert before == 0
    request = b"".join(pace.writes[:after])  # http.client writes the head, then the body
    assert request.startswith(b"POST /sms HTTP/1.1\r\n")
    assert request.endswith(json.dumps(payload).encode())
    assert at <= arrived
    assert second_at <= again
    assert left_at - at < 0.05


def test_a_record_the_sweep_took_back_during_the_wait_is_not_sent(manager, sink, monkeypatch):
    """The lease ran out while the worker slept for its slot, and the sweep requeued the
    record: the worker must not send it (another may be), and gives its slot back."""
    from campaigns import limiter

    (message,) = queue(manager)
    released = []
    original_wait = limiter.SegmentLimiter.wait

    def wait_past_the_lease(self, segments):
        slot = original_wait(self, segments)
        SmsMessage.objects.filter(pk=message.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        sending.sweep()
        monkeypatch.setattr(slot, "release", lambda: released.append(slot.member))
        return slot

    monkeypatch.setattr(limiter.SegmentLimiter, "wait", wait_past_the_lease)
    assert sending.attempt(message_id=message.pk) is None
    assert sink.arrivals == []
    assert len(released) == 1
    message.refresh_from_db()
    assert message.status == "queued"


def test_the_lease_is_renewed_to_cover_the_provider_call(manager, sink, settings):
    settings.SMS_LEASE_SECONDS = 15
    (message,) = queue(manager)
    leases = []
    sink.delay = 0.0
    original = sending._call_provider

    def record(backend, sms, slot, attempts):
        leases.append(SmsMessage.objects.get(pk=message.pk).lease_expires_at)
        return original(backend, sms, slot, attempts)

    sending._call_provider = record
    try:
        assert sending.attempt(message_id=message.pk) == "sent"
    finally:
        sending._call_provider = original
    (lease,) = leases
    assert lease - timezone.now() > timedelta(seconds=14)


@pytest.mark.django_db(transaction=True)  # the worker reconnects: no test transaction
def test_an_outcome_survives_a_database_outage_after_the_provider_call(manager, sink, monkeypatch):
    """PostgreSQL went away between the provider's answer and our write: the worker keeps
    the outcome and writes it when the database is back, instead of leaving the record
    to the sweep, which would send it again (seen in `make reliability`, postgres-restart)."""
    from django.db import OperationalError

    (message,) = queue(manager)
    real = sending._finish
    failures = []

    def finish(message_id, token, **changes):
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real(message_id, token, **changes)

    monkeypatch.setattr(sending, "_finish", finish)
    monkeypatch.setattr(sending.time, "sleep", lambda seconds: None)
    assert sending.attempt(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(sink.arrivals) == 1


def test_one_tick_a_window_runs_whichever_beat_sent_it(monkeypatch):
    """Beat runs on every host, each sending a tick a second: the first in a window does
    the work, the others return at once; when the window has passed, the next one runs."""
    ran = []
    monkeypatch.setattr(sending, "sweep", lambda: ran.append("sweep"))
    monkeypatch.setattr(services, "start_due_campaigns", lambda: None)
    monkeypatch.setattr(sending, "dispatch_due", lambda: [])
    monkeypatch.setattr(tasks.events, "publish_progress", lambda: None)
    monkeypatch.setattr(broker, "TICK_TURN_MS", 300)
    redis_client.client().delete(redis_client.key("sms", "tick"))
    tasks.sms_tick()
    tasks.sms_tick()  # another host's beat, in the same window
    assert ran == ["sweep"]
    time.sleep(0.35)
    tasks.sms_tick()
    assert ran == ["sweep", "sweep"]


def test_a_tick_runs_when_redis_cannot_say_whose_turn_it_is(monkeypatch):
    def unreachable(**kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(broker.redis_client, "client", unreachable)
    assert broker.tick_turn()

"""The SMS series of /metrics (SPEC section 15): records per status read from the
database when scraped, and what each attempt counts."""

import asyncio
import re
import urllib.request

import pytest
import websockets

from campaigns import sending, services
from campaigns.models import SmsMessage
from campaigns.tests.test_kannel import eventually
from conftest import _daphne
from messaging_site.tests.scraping import TOKEN, value

pytestmark = pytest.mark.django_db


def test_records_per_status_are_the_databases_in_three_queries(
    scrape, manager, django_assert_num_queries
):
    campaign = services.campaign_create(
        actor=manager,
        name="counts",
        message="Hello",
        recipients=[f"+1415555{n:04d}" for n in range(5)],
    )
    SmsMessage.objects.filter(campaign=campaign, to__in=["+14155550000", "+14155550001"]).update(
        status="sent", delivery_status="delivered"
    )
    SmsMessage.objects.filter(campaign=campaign, to="+14155550002").update(status="dead")
    before = scrape()
    with django_assert_num_queries(3):  # records, their reports, campaigns
        text = scrape()
    assert value(text, "messaging_sms_records", status="queued") == 2
    assert value(text, "messaging_sms_records", status="sent") == 2
    assert value(text, "messaging_sms_records", status="dead") == 1
    assert value(text, "messaging_sms_records", status="expired") == 0
    assert re.search(r'^messaging_sms_records\{status="expired"\} 0\.0$', text, re.M)
    assert value(text, "messaging_sms_delivery_reports", status="delivered") == 2
    assert value(text, "messaging_campaigns", status="draft") == 1
    assert before.count("messaging_sms_records{") == text.count("messaging_sms_records{")


def test_each_attempt_counts_its_segments_wait_and_outcome(scrape, manager, sink):
    result = services.sms_send(
        actor=manager, message="x" * 200, to=["+14155550100", "+14155550101"]
    )  # two GSM-7 segments each
    first, second = (SmsMessage.objects.get(pk=row["id"]) for row in result["messages"])
    sink.script[str(second.pk)] = [(503, {}, {})]
    before = scrape()
    assert sending.attempt(message_id=first.pk) == "sent"
    assert sending.attempt(message_id=second.pk) == "retry"
    text = scrape()
    segments = "messaging_sms_segments_sent_total"
    # Both requests were written to the provider: four segments against the limit.
    assert value(text, segments, backend="HttpBackend") == (
        value(before, segments, backend="HttpBackend") + 4
    )
    waits = "messaging_sms_limiter_wait_seconds_count"
    assert value(text, waits) == value(before, waits) + 2
    outcomes = "messaging_sms_outcomes_total"
    for outcome in ("sent", "retry"):
        assert (
            value(text, outcomes, outcome=outcome) == value(before, outcomes, outcome=outcome) + 1
        )


def test_the_sweep_counts_what_it_finds_dead_and_lost(scrape, manager, sink, settings):
    result = services.sms_send(actor=manager, message="Hi", to=["+14155550110", "+14155550111"])
    ids = [row["id"] for row in result["messages"]]
    SmsMessage.objects.filter(pk=ids[0]).update(
        status="sending", attempts=settings.SMS_MAX_ATTEMPTS, lease_expires_at="2000-01-01T00:00Z"
    )
    SmsMessage.objects.filter(pk=ids[1]).update(
        status="sending", attempts=1, lease_expires_at="2000-01-01T00:00Z"
    )
    before = scrape()
    assert sending.sweep()["dead"] == 1
    text = scrape()
    outcomes = "messaging_sms_outcomes_total"
    assert value(text, outcomes, outcome="dead") == value(before, outcomes, outcome="dead") + 1
    assert value(text, outcomes, outcome="lost") == value(before, outcomes, outcome="lost") + 1


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_one_host_answers_for_all_its_processes(
    manager, sink, start_workers, monkeypatch, tmp_path
):
    """Two Daphne processes and a Celery worker sharing one PROMETHEUS_MULTIPROC_DIR, as
    scripts/run.py starts them: either Daphne's /metrics counts the sockets of both and
    the segments the worker sent."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    env = {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with _daphne("metrics-a", **env) as (first, _), _daphne("metrics-b", **env) as (second, _):
        start_workers(sink, count=1)
        result = services.sms_send(
            actor=manager, message="x" * 200, to=["+14155550120", "+14155550121"]
        )
        ids = [row["id"] for row in result["messages"]]
        assert eventually(lambda: SmsMessage.objects.filter(pk__in=ids, status="sent").count() == 2)

        async def hold_sockets() -> list[str]:
            key = manager.auth_token.key
            sockets = [
                await websockets.connect(f"ws://{address}/ws/?token={key}")
                for address in (first, first, first, second, second)
            ]
            scraped = (
                await asyncio.to_thread(_scrape, first),
                await asyncio.to_thread(_scrape, second),
            )
            for socket in sockets:
                await socket.close()
            return scraped

        for text in asyncio.run(hold_sockets()):
            assert value(text, "messaging_websocket_open") == 5
            assert value(text, "messaging_sms_segments_sent_total", backend="HttpBackend") == 4
            assert value(text, "messaging_sms_outcomes_total", outcome="sent") == 2
        assert eventually(lambda: value(_scrape(first), "messaging_websocket_open") == 0)


def _scrape(address: str) -> str:
    request = urllib.request.Request(
        f"http://{address}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http only
        return response.read().decode()

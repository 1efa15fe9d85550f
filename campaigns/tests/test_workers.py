"""Real Celery worker processes against a real HTTP provider on localhost.

The global limit holds as the provider measures it: every record arrives exactly once,
and no one-second window of arrivals carries more than 45 segments.
"""

import itertools
import time

import pytest

from campaigns import services
from campaigns.models import SmsMessage

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 45


def max_segments_in_any_second(arrivals):
    """Over sorted arrival times: the most segments in any window [t, t + 1s)."""
    arrivals = sorted(arrivals)
    worst, start, in_window = 0, 0, 0
    for arrived, segments in arrivals:
        in_window += segments
        while arrivals[start][0] <= arrived - 1.0:
            in_window -= arrivals[start][1]
            start += 1
        worst = max(worst, in_window)
    return worst


def test_window_counter_counts_what_it_should():
    assert max_segments_in_any_second([(0.0, 40), (0.5, 5), (0.99, 1)]) == 46
    assert max_segments_in_any_second([(0.0, 40), (0.5, 5), (1.0, 1)]) == 45
    assert max_segments_in_any_second([(0.0, 40), (1.0, 5), (1.5, 1)]) == 40


@pytest.fixture
def workers(sink, settings, start_workers):
    """Two worker processes (two pool processes each) on this test run's queue."""
    settings.SMS_SEGMENTS_PER_SECOND = LIMIT
    # The guard must cover the spread of grant-to-arrival latency. A loaded test run on
    # two cores (this suite, PostgreSQL, four worker processes and the sink) has shown up
    # to ~17 ms; the production default (20 ms) is measured quiet, by bench/sms_rate.py
    # (docs/PERFORMANCE.md).
    return start_workers(sink, count=2, limit=LIMIT, guard_ms=40)


def wait_until_done(timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not SmsMessage.objects.filter(status__in=["queued", "sending"]).exists():
            return
        time.sleep(0.2)
    raise AssertionError(
        f"still unfinished: {list(SmsMessage.objects.values_list('status', flat=True))}"
    )


def test_workers_send_every_record_once_within_45_segments_per_second(workers, sink, manager):
    numbers = [f"+1415555{n:04d}" for n in range(1000, 1170)]
    three = services.campaign_create(
        actor=manager,
        name="three",
        message="Spring sale! " + "x" * 300,
        recipients=numbers[:50],
    )
    one = services.campaign_create(
        actor=manager, name="one", message="Short one", recipients=numbers[50:130]
    )
    services.sms_send(actor=manager, message="Two parts " + "y" * 200, to=numbers[130:170])
    services.campaign_launch(campaign=three)
    services.campaign_launch(campaign=one)
    expected = {m.pk: m.segments for m in SmsMessage.objects.all()}
    assert sum(expected.values()) >= 300
    assert set(expected.values()) == {1, 2, 3}

    wait_until_done(timeout=90)

    assert set(SmsMessage.objects.values_list("status", flat=True)) == {"sent"}
    references = sink.references()
    assert sorted(references) == sorted(str(pk) for pk in expected)  # each exactly once
    arrivals = [(arrived, payload["segments"]) for arrived, payload in sink.arrivals]
    assert all(
        payload["segments"] == expected[int(payload["reference"])] for _, payload in sink.arrivals
    )
    assert max_segments_in_any_second(arrivals) <= LIMIT
    three.refresh_from_db()
    one.refresh_from_db()
    assert (three.status, one.status) == ("completed", "completed")


@pytest.mark.django_db(transaction=True)
def test_progress_comes_every_second_while_a_backlog_waits(sink, settings, start_workers, manager):
    """The tick runs on its own queue and worker: with every send process busy under the
    limit, watchers still hear from the campaign about once a second, not in bursts."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from messaging_site.asgi import application

    settings.SMS_SEGMENTS_PER_SECOND = 5
    campaign = services.campaign_create(
        actor=manager,
        name="backlog",
        message="Hello " + "z" * 300,  # 3 segments each: a backlog at 5 a second
        recipients=[f"+1415555{n:04d}" for n in range(2000, 2040)],
    )
    start_workers(sink, count=1, limit=5, guard_ms=40, beat=True)
    services.campaign_launch(campaign=campaign)
    key = manager.auth_token.key

    async def watch(seconds: float) -> list[float]:
        socket = WebsocketCommunicator(application, f"/ws/?token={key}")
        assert (await socket.connect())[0]
        await socket.send_json_to({"action": "watchCampaign", "campaignId": campaign.pk})
        await socket.receive_json_from(timeout=5)  # the state now, at once
        arrivals = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            frame = await socket.receive_json_from(timeout=5)
            if frame["action"] == "campaignProgress":
                arrivals.append(loop.time())
        await socket.disconnect()
        return arrivals

    time.sleep(3)  # the workers start, and the send processes fill up with waiting texts
    arrivals = async_to_sync(watch)(8)
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 6, arrivals
    # Beat's one-second schedule, and a loaded two-core test run around it; in bursts
    # behind the sends the gaps were 2 s and more, with 0 between a burst's frames.
    assert max(gaps) < 1.6, gaps
    assert min(gaps) > 0.4, gaps
    assert SmsMessage.objects.filter(campaign=campaign, status="queued").exists(), (
        "the backlog drained during the watch: the test measured no backlog"
    )


def test_a_retry_waits_its_backoff_not_the_backlog(sink, settings, start_workers, manager):
    """A 503 puts the text back with a backoff; the retry goes out when that has passed,
    ahead of the tasks already queued for the backlog (issue 17: 5 to 10 s behind them)."""
    settings.SMS_SEGMENTS_PER_SECOND = 5
    campaign = services.campaign_create(
        actor=manager,
        name="backlog",
        message="Hello",
        recipients=[f"+1415555{n:04d}" for n in range(3000, 3040)],  # 8 s at 5 a second
    )
    first, second = campaign.messages.order_by("id")[:2]
    sink.script[str(first.pk)] = [(503, {}, {})]  # backoff 0.5 to 1 s
    sink.script[str(second.pk)] = [(503, {"Retry-After": "2"}, {})]
    start_workers(sink, count=1, limit=5, guard_ms=40, beat=True)
    services.campaign_launch(campaign=campaign)
    wait_until_done(timeout=60)

    def gap(message):
        times = [at for at, payload in sink.arrivals if payload["reference"] == str(message.pk)]
        assert len(times) == 2
        return times[1] - times[0]

    last = max(at for at, _ in sink.arrivals) - min(at for at, _ in sink.arrivals)
    assert last > 6  # there was a backlog to jump
    # Slack: the next dispatch (each send refills), one slot behind the other process's.
    assert gap(first) < 1.0 + 1.2
    assert 2.0 <= gap(second) < 2.0 + 1.2

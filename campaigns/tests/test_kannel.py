"""SPEC section 14 against a real Kannel (Debian's bearerbox and smsbox, fakesmsc as the SMS
centre, campaigns/tests/kannel.py): texts reach the SMS centre whole, in the encoding and
parts we counted; delivery reports come back through the dlr-url and are applied once; a
STOP typed on a handset reaches the opt-out list; and the limit holds as the SMS centre
receives the parts."""

import time
from collections import defaultdict

import pytest
from django.db.models import Sum

from campaigns import selectors, sending, services
from campaigns.backends import get_backend
from campaigns.models import ConsentEvent, DeliveryReport, InboundSms, SmsMessage
from campaigns.tests.kannel import QUICK_BOX_HOST, Kannel, available
from campaigns.tests.test_workers import max_segments_in_any_second

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "kannel-secret-0123456789"
LIMIT = 45


@pytest.fixture
def kannel(live_server, settings, tmp_path):
    if not available():
        # Never skipped: scripts/provision.sh (run by `make test`) installs them.
        pytest.fail("Debian's kannel and kannel-extras are missing: run scripts/provision.sh")
    gateway = Kannel(tmp_path / "kannel", callback_base_url=live_server.url, secret=SECRET)
    gateway.directory.mkdir()
    try:
        gateway.start()
    except BaseException:
        gateway.stop()
        raise
    settings.SMS_BACKEND = "campaigns.backends.kannel.KannelBackend"
    settings.KANNEL_SENDSMS_URL = gateway.sendsms_url
    settings.KANNEL_USERNAME = gateway.username
    settings.KANNEL_PASSWORD = gateway.password
    settings.KANNEL_SECRET = SECRET
    settings.SMS_CALLBACK_BASE_URL = live_server.url
    settings.SMS_SEGMENTS_PER_SECOND = 10_000
    yield gateway
    gateway.stop()


def eventually(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def texts_at_centre(parts) -> dict[str, list]:
    by_receiver = defaultdict(list)
    for part in parts:
        by_receiver[part.receiver].append(part)
    return by_receiver


def reassembled(parts, *, ucs2: bool) -> str:
    data = b"".join(part.data for part in sorted(parts, key=lambda part: part.number))
    return data.decode("utf-16-be" if ucs2 else "utf-8")


TEXTS = {
    "+14155550101": "Short and plain.",
    # GSM-7 with escapes (each of € [ ] counts two septets): 2 parts by our count.
    "+14155550102": "Sale € [now] " * 12 + "ends",
    # UCS-2 with emoji outside the BMP (two units each): 3 parts of 67 units.
    "+14155550103": "Grüße 😀 " * 20,
}


def test_texts_reach_the_sms_centre_whole_in_our_encoding_and_parts(kannel, manager):
    sent = {}
    for number, text in TEXTS.items():
        answer = services.sms_send(actor=manager, message=text, to=[number])
        sent[number] = SmsMessage.objects.get(pk=answer["messages"][0]["id"])
    for record in sent.values():
        assert sending.attempt(message_id=record.pk) == "sent"

    at_centre = eventually(
        lambda: (
            (by := texts_at_centre(kannel.parts()))
            and sum(map(len, by.values())) >= sum(r.segments for r in sent.values())
            and by
        )
    )
    assert set(at_centre) == set(TEXTS)
    for number, record in sent.items():
        parts = at_centre[number]
        ucs2 = record.segments == 3
        assert len(parts) == record.segments == {1: 1, 2: 2, 3: 3}[record.segments]
        assert all(part.total == len(parts) for part in parts)
        assert reassembled(parts, ucs2=ucs2) == TEXTS[number]
        assert {part.sender for part in parts} == {"Messaging"}
    assert at_centre["+14155550103"][0].data.startswith("Grüße".encode("utf-16-be"))
    assert [p.kind for p in at_centre["+14155550101"]] == ["text"]

    # fakesmsc reports each text delivered; Kannel calls the dlr-url once per text.
    def delivered():
        return SmsMessage.objects.filter(delivery_status="delivered").count() == len(sent)

    assert eventually(delivered)
    for record in sent.values():
        record.refresh_from_db()
        assert record.delivered_at is not None
        assert record.reports.count() == record.segments


def test_a_stop_typed_on_a_handset_opts_out_and_is_answered_once(kannel):
    kannel.handset_sends("+14155550199", "Stop")

    assert eventually(lambda: selectors.opted_out(["+14155550199"]))
    received = InboundSms.objects.get()
    assert (received.backend, received.sender, received.keyword) == (
        "kannel",
        "+14155550199",
        "stop",
    )
    event = ConsentEvent.objects.get()
    assert (event.event, event.source, event.inbound_id) == ("opt_out", "keyword", received.pk)
    reply = SmsMessage.objects.get(kind="reply")
    assert sending.attempt(message_id=reply.pk) == "sent"
    assert eventually(lambda: [p for p in kannel.parts() if p.receiver == "+14155550199"])


def test_kannel_callbacks_need_the_secret(kannel, api):
    stop = {"from": "+14155550198", "text": "STOP"}
    for query in ({}, {"secret": "wrong"}):
        response = api.get("/api/sms/inbound/kannel/", {**stop, **query})
        assert response.status_code == 403
        response = api.get("/api/sms/dlr/kannel/", {"reference": "1", "type": "1", **query})
        assert response.status_code == 403
    assert not InboundSms.objects.exists()
    assert not selectors.opted_out(["+14155550198"])
    assert api.get("/api/sms/inbound/kannel/", {**stop, "secret": SECRET}).status_code == 200
    assert selectors.opted_out(["+14155550198"])


@pytest.mark.parametrize(
    ("kind", "answer", "status"),
    [
        (1, "id:1 stat:DELIVRD", "delivered"),
        (2, "id:1 stat:UNDELIV", "undelivered"),
        (2, "id:1 sub:001 dlvrd:000 stat:EXPIRED err:000", "expired"),
        (16, "", "undelivered"),
        (8, "", ""),
        (4, "", ""),
    ],
)
def test_kannel_report_types_map_to_delivery_statuses(api, settings, manager, kind, answer, status):
    settings.KANNEL_SECRET = SECRET
    record = SmsMessage.objects.create(to="+14155550111", body="hi", segments=2, status="sent")
    query = {"secret": SECRET, "reference": str(record.pk), "type": kind, "answer": answer}
    for _ in range(2):  # a replay changes nothing twice
        response = api.get("/api/sms/dlr/kannel/", query)
        assert response.status_code == 200
        assert response.content == b""
    record.refresh_from_db()
    assert record.delivery_status == status
    assert DeliveryReport.objects.count() == (2 if status else 0)


def test_the_backend_refuses_a_secret_kannel_would_garble(settings):
    settings.SMS_BACKEND = "campaigns.backends.kannel.KannelBackend"
    settings.SMS_CALLBACK_BASE_URL = "https://chat.example.com"
    settings.KANNEL_SECRET = "has%percent"
    with pytest.raises(Exception, match="KANNEL_SECRET"):
        get_backend()
    settings.KANNEL_SECRET = SECRET
    settings.SMS_CALLBACK_BASE_URL = ""
    with pytest.raises(Exception, match="SMS_CALLBACK_BASE_URL"):
        get_backend()


def test_workers_through_kannel_send_each_text_once_within_the_limit_at_the_centre(
    kannel, settings, start_workers, manager
):
    """Real Celery workers, the limit of 45 segments a second as the SMS centre gets the
    parts, delivery reports for every text, and a STOP mid-campaign honoured."""
    numbers = [f"+1415556{n:04d}" for n in range(100)]
    stopper = numbers[-1]
    campaign = services.campaign_create(
        actor=manager, name="spring", message="Spring sale! " + "x" * 300, recipients=numbers[:50]
    )
    short = services.campaign_create(
        actor=manager, name="short", message="Tomorrow only.", recipients=numbers[50:]
    )
    total = SmsMessage.objects.aggregate(total=Sum("segments"))["total"]
    assert total == 50 * 3 + 50
    start_workers(
        count=2,
        limit=LIMIT,
        # The guard covers the spread from the write to the SMS centre: a few ms on a
        # quick-ACK route, up to the boxes' 40 ms delayed ACKs without one (kannel.py).
        guard_ms=40 if kannel.box_host == QUICK_BOX_HOST else 100,
        backend={
            "SMS_BACKEND": "campaigns.backends.kannel.KannelBackend",
            "KANNEL_SENDSMS_URL": kannel.sendsms_url,
            "KANNEL_USERNAME": kannel.username,
            "KANNEL_PASSWORD": kannel.password,
            "KANNEL_SECRET": SECRET,
            "SMS_CALLBACK_BASE_URL": settings.SMS_CALLBACK_BASE_URL,
        },
    )
    services.campaign_launch(campaign=campaign)
    services.campaign_launch(campaign=short)
    # The long texts go first (lower ids): the last number's short text is seconds away.
    assert eventually(lambda: len(kannel.parts()) >= 30, timeout=30)
    kannel.handset_sends(stopper, "STOP")
    assert eventually(lambda: selectors.opted_out([stopper]), timeout=30)

    assert eventually(
        lambda: not SmsMessage.objects.filter(status__in=["queued", "sending"]).exists(),
        timeout=60,
    )
    records = {r.to: r for r in SmsMessage.objects.filter(kind="message")}
    assert records[stopper].status == "skipped"
    assert {r.status for n, r in records.items() if n != stopper} == {"sent"}
    at_centre = texts_at_centre(kannel.parts())
    for number, record in records.items():
        if record.status == "sent":
            assert len(at_centre[number]) == record.segments  # every part, once
    assert not [p for p in at_centre.get(stopper, []) if b"Tomorrow" in p.data]
    arrivals = [(part.at, 1) for part in kannel.parts()]
    ts = sorted(a for a, _ in arrivals)
    t0 = ts[0]
    print("DEBUG", [round(t - t0, 3) for t in ts])
    assert max_segments_in_any_second(arrivals) <= LIMIT
    assert eventually(
        lambda: (
            SmsMessage.objects.filter(
                kind="message", status="sent", delivery_status="delivered"
            ).count()
            == sum(1 for r in records.values() if r.status == "sent")
        ),
        timeout=30,
    )
    assert DeliveryReport.objects.filter(sms__kind="message").count() == sum(
        r.segments for r in records.values() if r.status == "sent"
    )

"""SPEC section 14, Twilio: texts go through the official package's Client to a stand-in of
Twilio's Messages API (campaigns/tests/twilio_api.py) on a paced keep-alive connection,
its answers map to sent, transient and permanent; the inbound and StatusCallback webhooks
act only on a request Twilio signed."""

import base64
import threading
from email.utils import format_datetime
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from twilio.request_validator import RequestValidator

from campaigns import selectors, sending, services
from campaigns.backends import OutboundSms, PermanentError, TransientError
from campaigns.backends.twilio import TwilioBackend
from campaigns.models import ConsentEvent, DeliveryReport, InboundSms, OptOut, SmsMessage
from campaigns.tests.pacing import WatchedPace
from campaigns.tests.twilio_api import TwilioApi, twilio_error

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
FROM = "+14155550100"
SERVICE = "MG" + "fedcba9876543210" * 2
BASE = "https://sms.example.com"
NUMBER = "+14155550123"
INBOUND = "/api/sms/inbound/twilio/"
DLR = "/api/sms/dlr/twilio/"


@pytest.fixture
def twilio(settings):
    """The stand-in Twilio, and the settings of an account that sends from FROM."""
    server = TwilioApi(SID, TOKEN).start()
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM = FROM
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_URL = server.url
    settings.SMS_CALLBACK_BASE_URL = BASE
    yield server
    server.stop()


@pytest.fixture
def backend(twilio):
    made = TwilioBackend()
    yield made
    made.wire.drop()


class Watch:
    """A pace that remembers its calls."""

    def __init__(self):
        self.events: list[str] = []

    def ready(self):
        self.events.append("ready")

    def left(self):
        self.events.append("left")


def text(body="Hello", reference="42", to=NUMBER) -> OutboundSms:
    return OutboundSms(to=to, sender="ignored", body=body, segments=1, reference=reference)


def test_a_text_reaches_twilio_as_the_package_sends_it(backend, twilio):
    sid = backend.send(text(), Watch())
    (arrival,) = twilio.arrivals
    assert arrival.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert arrival.form == {
        "To": [NUMBER],
        "Body": ["Hello"],
        "From": [FROM],
        "StatusCallback": [f"{BASE}/api/sms/dlr/twilio/?reference=42"],
    }
    scheme, credentials = arrival.headers["Authorization"].split(" ")
    assert (scheme, base64.b64decode(credentials).decode()) == ("Basic", f"{SID}:{TOKEN}")
    assert arrival.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert arrival.headers["User-Agent"].startswith("twilio-python/")
    assert (arrival.status, arrival.reply["status"]) == (201, "queued")
    assert sid == arrival.reply["sid"]
    assert sid.startswith("SM")


def test_a_messaging_service_sends_instead_of_a_number(settings, twilio):
    settings.TWILIO_FROM = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = SERVICE
    TwilioBackend().send(text(), Watch())
    (arrival,) = twilio.arrivals
    assert arrival.value("MessagingServiceSid") == SERVICE
    assert "From" not in arrival.form


@pytest.mark.parametrize(
    "body",
    ["Привет, мир! 你好 👋 — €5", "a+b & c=d; 100% {ok} ~ [x]\nsecond line", "  spaced  "],
)
def test_the_text_arrives_intact_whatever_its_encoding(backend, twilio, body):
    backend.send(text(body), Watch())
    (arrival,) = twilio.arrivals
    assert arrival.value("Body") == body
    # Byte for byte what the package's own client (requests) would have posted.
    fields = {"To": NUMBER, "StatusCallback": f"{BASE}{DLR}?reference=42", "From": FROM,
              "Body": body}  # fmt: skip
    assert arrival.body == requests.Request("POST", twilio.url, data=fields).prepare().body.encode()


@pytest.mark.parametrize(
    ("answer", "error", "retry_after"),
    [
        ((429, {"Retry-After": "7"}, twilio_error(429, 20429, "Too Many Requests")),
         TransientError, 7.0),
        ((500, {}, twilio_error(500, 20500, "Internal Server Error")), TransientError, None),
        ((503, {}, b"<html>Service Unavailable</html>"), TransientError, None),
        ((400, {}, twilio_error(400, 21211, "The 'To' number +1555 is not a valid phone "
                                            "number.")), PermanentError, None),
        ((400, {}, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")),
         PermanentError, None),
        ((404, {}, b"<html>Not Found</html>"), PermanentError, None),
    ],
)  # fmt: skip
def test_answers_map_to_transient_and_permanent(backend, twilio, answer, error, retry_after):
    twilio.script.append(answer)
    pace = Watch()
    with pytest.raises(error) as raised:
        backend.send(text(), pace)
    assert len(twilio.arrivals) == 1  # never sent again within one attempt
    assert pace.events == ["ready", "left"]
    if error is TransientError:
        assert raised.value.retry_after == retry_after
        assert f"HTTP {answer[0]}" in str(raised.value)
    elif isinstance(answer[2], dict):
        assert str(raised.value).startswith(f"Twilio error {answer[2]['code']}: ")
        assert answer[2]["message"] in str(raised.value)


def test_a_retry_after_date_is_honoured(backend, twilio):
    later = format_datetime(timezone.now() + timezone.timedelta(seconds=30), usegmt=True)
    twilio.script.append((503, {"Retry-After": later}, twilio_error(503, 20503, "Busy")))
    with pytest.raises(TransientError) as raised:
        backend.send(text(), Watch())
    assert 25 <= raised.value.retry_after <= 30


def test_a_refused_login_is_permanent(settings, twilio):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    with pytest.raises(PermanentError, match=r"Twilio error 20003: .*Authenticate .*HTTP 401"):
        TwilioBackend().send(text(), Watch())


def test_a_timeout_or_no_server_is_transient(settings, twilio):
    settings.SMS_HTTP_TIMEOUT = 0.3
    twilio.delay = 1.0
    with pytest.raises(TransientError, match="timed out"):
        TwilioBackend().send(text(), Watch())
    settings.TWILIO_API_URL = "http://127.0.0.1:9"  # discard: nothing listens
    with pytest.raises(TransientError, match="ConnectionRefused"):
        TwilioBackend().send(text(), Watch())


def test_an_accepted_answer_that_cannot_be_read_still_counts_as_sent(backend, twilio):
    twilio.script.append((201, {}, b"<not json>"))
    assert backend.send(text(), Watch()) == "unparsed:b'<not json>'"


def test_the_pace_brackets_the_write_of_the_request(backend, twilio):
    """Connecting and building the request (the Client's whole work) happen before
    `ready()`; every byte is written between `ready()` and `left()`, none after."""
    pace = WatchedPace(backend.wire)
    backend.send(text("first"), pace)
    written = len(pace.writes)
    backend.send(text("second"), pace)
    first, second = twilio.arrivals
    (ready, at, before), (left, left_at, after), (_, second_at, between), _ = pace.events
    assert (ready, left, before, after, between) == ("ready", "left", 0, written, written)
    request = b"".join(pace.writes[:after])
    assert request.startswith(
        f"POST /2010-04-01/Accounts/{SID}/Messages.json HTTP/1.1\r\n".encode()
    )
    assert request.endswith(first.body)
    assert at <= first.at
    assert second_at <= second.at
    assert left_at - at < 0.05
    assert first.client == second.client  # kept alive: the same connection


def test_each_thread_sends_with_its_own_pace_on_its_own_connection(backend, twilio):
    paces = [Watch() for _ in range(12)]
    errors = []

    def send(batch):
        try:
            for n in batch:
                backend.send(text(f"text {n}", reference=str(n)), paces[n])
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=send, args=(range(n, 12, 4),)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(pace.events == ["ready", "left"] for pace in paces)
    callbacks = sorted(arrival.value("StatusCallback") for arrival in twilio.arrivals)
    assert callbacks == sorted(f"{BASE}{DLR}?reference={n}" for n in range(12))
    assert len({arrival.client for arrival in twilio.arrivals}) == 4


def test_the_client_sends_nothing_outside_a_message_s_pace(backend, twilio):
    with pytest.raises(RuntimeError):
        backend.messages.create(to=NUMBER, body="stray", from_=FROM)
    assert twilio.arrivals == []


@pytest.mark.parametrize(
    "changes",
    [
        {"TWILIO_ACCOUNT_SID": ""},
        {"TWILIO_AUTH_TOKEN": ""},
        {"TWILIO_ACCOUNT_SID": "AC/../../x"},
        {"TWILIO_FROM": ""},
        {"TWILIO_MESSAGING_SERVICE_SID": SERVICE},
        {"SMS_CALLBACK_BASE_URL": ""},
        {"TWILIO_API_URL": "ftp://api.twilio.com"},
    ],
)
def test_a_bad_configuration_is_refused_at_start(settings, twilio, changes):
    for name, value in changes.items():
        setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured):
        TwilioBackend()


# The backend in the product's flow, and the webhooks: these use the database.


def signed(api, path, form, *, url=None, token=TOKEN, signature=None):
    """Post `form` as Twilio does, signed for `url` (by default the one SMS_CALLBACK_BASE_URL
    makes) unless a `signature` is given ("" for none)."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(url or f"{BASE}{path}", form)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return api.post(
        path, urlencode(form), content_type="application/x-www-form-urlencoded", **headers
    )


def inbound_form(body: str) -> dict[str, str]:
    """What Twilio posts for a text to our number (less a few location fields)."""
    return {"ToCountry": "US", "SmsMessageSid": "SM" + "1" * 32, "NumMedia": "0",
            "Body": body, "From": NUMBER, "To": FROM, "AccountSid": SID,
            "MessageSid": "SM" + "1" * 32, "NumSegments": "1", "ApiVersion": "2010-04-01",
            "SmsStatus": "received"}  # fmt: skip


def status_form(status: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "2" * 32, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": SID, "From": FROM, "To": NUMBER, "ApiVersion": "2010-04-01"}  # fmt: skip


@pytest.fixture
def sent(manager, twilio):
    """A text we handed over, as its record is once Twilio took it."""
    services.sms_send(actor=manager, message="Hi", to=[NUMBER])
    SmsMessage.objects.update(status="sent")
    return SmsMessage.objects.get()


def nothing_changed():
    assert not InboundSms.objects.exists()
    assert not OptOut.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert not DeliveryReport.objects.exists()


def test_a_text_sent_through_twilio_is_recorded_and_its_report_applied(
    settings, manager, twilio, api
):
    settings.SMS_BACKEND = "campaigns.backends.twilio.TwilioBackend"
    settings.SMS_SEGMENTS_PER_SECOND = 10_000
    services.sms_send(actor=manager, message="Sale today", to=[NUMBER])
    record = SmsMessage.objects.get()
    assert sending.attempt(message_id=record.pk) == "sent"
    (arrival,) = twilio.arrivals
    record.refresh_from_db()
    assert record.provider_id == arrival.reply["sid"]
    callback = urlsplit(arrival.value("StatusCallback"))
    assert callback.query == f"reference={record.pk}"
    path = f"{callback.path}?{callback.query}"
    response = signed(api, path, status_form("delivered"), url=arrival.value("StatusCallback"))
    assert response.status_code == 200
    record.refresh_from_db()
    assert record.delivery_status == "delivered"


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        ((400, {}, twilio_error(400, 21211, "The 'To' number is not a valid phone number.")),
         "failed", "Twilio error 21211"),
        ((429, {"Retry-After": "30"}, twilio_error(429, 20429, "Too Many Requests")),
         "queued", "HTTP 429"),
    ],
)  # fmt: skip
def test_a_refusal_fails_the_record_and_a_429_waits(
    settings, manager, twilio, answer, status, error
):
    settings.SMS_BACKEND = "campaigns.backends.twilio.TwilioBackend"
    settings.SMS_SEGMENTS_PER_SECOND = 10_000
    services.sms_send(actor=manager, message="Sale today", to=[NUMBER])
    record = SmsMessage.objects.get()
    twilio.script.append(answer)
    sending.attempt(message_id=record.pk)
    record.refresh_from_db()
    assert (record.status, record.provider_id) == (status, "")
    assert error in record.last_error
    if status == "queued":
        assert record.next_attempt_at >= timezone.now() + timezone.timedelta(seconds=25)


def test_a_signed_inbound_stop_opts_the_number_out(db, twilio, api, settings):
    response = signed(api, INBOUND, inbound_form("STOP"))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/xml"
    # An empty TwiML answer: Twilio sends no reply of its own.
    assert response.content == b'<?xml version="1.0" encoding="UTF-8"?><Response />'
    assert selectors.opted_out([NUMBER]) == {NUMBER}
    event = ConsentEvent.objects.get()
    assert (event.number, event.event, event.source) == (NUMBER, "opt_out", "keyword")
    assert (event.inbound.backend, event.inbound.body, event.inbound.to) == ("twilio", "STOP", FROM)
    # Our confirmation goes through the limiter like any text.
    reply = SmsMessage.objects.get(kind="reply")
    assert (reply.to, reply.body, reply.status) == (NUMBER, settings.SMS_STOP_TEXT, "queued")


def test_the_signed_url_is_the_callback_base_or_the_one_this_service_sees(
    db, twilio, api, settings
):
    direct = f"http://testserver{INBOUND}"
    assert signed(api, INBOUND, inbound_form("hello"), url=direct).status_code == 200
    settings.SMS_CALLBACK_BASE_URL = ""
    assert signed(api, INBOUND, inbound_form("hello"), url=direct).status_code == 200
    assert signed(api, INBOUND, inbound_form("hello"), url=f"{BASE}{INBOUND}").status_code == 403
    assert InboundSms.objects.count() == 2


@pytest.mark.parametrize(
    "how",
    ["missing", "garbage", "another token", "another body", "another endpoint", "no token set"],
)
def test_an_unsigned_or_missigned_inbound_is_403_and_changes_nothing(
    db, twilio, api, settings, how
):
    form = inbound_form("STOP")
    options = {
        "missing": {"signature": ""},
        "garbage": {"signature": "bm90IGEgc2lnbmF0dXJl"},
        "another token": {"token": "0" * 32},
        "another body": {
            "signature": RequestValidator(TOKEN).compute_signature(
                f"{BASE}{INBOUND}", inbound_form("HELLO")
            )
        },
        "another endpoint": {"url": f"{BASE}{DLR}"},
        "no token set": {"token": ""},
    }[how]
    if how == "no token set":
        settings.TWILIO_AUTH_TOKEN = ""
    assert signed(api, INBOUND, form, **options).status_code == 403
    nothing_changed()


def test_only_a_signed_form_is_read(db, twilio, api):
    form = inbound_form("STOP")
    signature = RequestValidator(TOKEN).compute_signature(f"{BASE}{INBOUND}", form)
    response = api.post(INBOUND, form, format="json", HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 415
    assert api.get(INBOUND).status_code == 405
    nothing_changed()


def test_a_delivered_status_callback_applies_once(sent, api):
    path = f"{DLR}?reference={sent.pk}"
    assert signed(api, path, status_form("delivered")).status_code == 200
    sent.refresh_from_db()
    assert sent.delivery_status == "delivered"
    first = sent.delivered_at
    assert first is not None
    for status in ("delivered", "undelivered"):  # a replay, and a late contrary report
        assert signed(api, path, status_form(status)).status_code == 200
    sent.refresh_from_db()
    assert (sent.delivery_status, sent.delivered_at) == ("delivered", first)
    assert list(DeliveryReport.objects.values_list("backend", "status")) == [
        ("twilio", "delivered")
    ]


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_failed_and_undelivered_are_undelivered(sent, api, status):
    assert signed(api, f"{DLR}?reference={sent.pk}", status_form(status)).status_code == 200
    sent.refresh_from_db()
    assert (sent.delivery_status, sent.delivered_at) == ("undelivered", None)


@pytest.mark.parametrize("status", ["accepted", "queued", "sending", "sent", "read"])
def test_statuses_that_are_not_final_change_nothing(sent, api, status):
    assert signed(api, f"{DLR}?reference={sent.pk}", status_form(status)).status_code == 200
    sent.refresh_from_db()
    assert sent.delivery_status == ""
    assert not DeliveryReport.objects.exists()


def test_an_unknown_reference_is_200_and_a_missing_one_400(sent, api, caplog):
    assert signed(api, f"{DLR}?reference=999999", status_form("delivered")).status_code == 200
    assert "unknown reference" in caplog.text
    assert signed(api, DLR, status_form("delivered")).status_code == 400
    assert not DeliveryReport.objects.exists()


def test_a_status_callback_signed_for_another_reference_is_403(sent, api):
    other = f"{BASE}{DLR}?reference={sent.pk + 1}"
    form = status_form("delivered")
    response = signed(api, f"{DLR}?reference={sent.pk}", form, url=other)
    assert response.status_code == 403
    assert signed(api, f"{DLR}?reference={sent.pk}", form, signature="").status_code == 403
    sent.refresh_from_db()
    assert sent.delivery_status == ""
    assert not DeliveryReport.objects.exists()

"""SPEC section 14, inbound keywords and consent: STOP and its synonyms, START, HELP, one
reply each (sent even to the number that just opted out, and nothing else after it), a
consent log of every opt-in and opt-out whatever its source, and the HTTP backend's
inbound callback behind its bearer token."""

import csv
import io

import pytest
from django.core.management import call_command

from campaigns import admin as admin_module
from campaigns import inbound, sending, services
from campaigns.models import ConsentEvent, InboundSms, OptOut, SmsMessage

pytestmark = pytest.mark.django_db
URL = "/api/sms/inbound/http/"
TOKEN = "callback-secret-0123456789"
NUMBER = "+14155550123"


@pytest.fixture
def callback(settings, api):
    settings.SMS_CALLBACK_TOKEN = TOKEN

    def post(body, token=TOKEN):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
        return api.post(URL, body, format="json", **headers)

    return post


def replies() -> list[tuple[str, str]]:
    return list(
        SmsMessage.objects.filter(kind=SmsMessage.Kind.REPLY)
        .order_by("id")
        .values_list("to", "body")
    )


@pytest.mark.parametrize("word", ["STOP", "stop", "  Stop  ", "STOPALL", "unsubscribe",
                                  "Cancel", "END", "quit"])  # fmt: skip
def test_stop_and_its_synonyms_opt_out_with_one_reply(callback, settings, word):
    response = callback({"from": "+1 415 555 0123", "to": "12345", "body": word})
    assert response.status_code == 200, response.content
    assert response.json()["keyword"] == "stop"
    assert OptOut.objects.filter(number=NUMBER, source="keyword").exists()
    event = ConsentEvent.objects.get()
    assert (event.number, event.event, event.source) == (NUMBER, "opt_out", "keyword")
    assert event.inbound.body == word
    assert replies() == [(NUMBER, settings.SMS_STOP_TEXT)]


def test_start_opts_back_in_and_help_answers(callback, settings):
    callback({"from": NUMBER, "body": "STOP"})
    callback({"from": NUMBER, "body": "start"})
    assert not OptOut.objects.exists()
    callback({"from": NUMBER, "body": "HELP"})
    callback({"from": NUMBER, "body": "yes"})  # not opted out: nothing to change, a reply
    assert [(e.event, e.source) for e in ConsentEvent.objects.order_by("id")] == [
        ("opt_out", "keyword"),
        ("opt_in", "keyword"),
    ]
    assert [body for _, body in replies()] == [
        settings.SMS_STOP_TEXT,
        settings.SMS_START_TEXT,
        settings.SMS_HELP_TEXT,
        settings.SMS_START_TEXT,
    ]
    assert InboundSms.objects.count() == 4


def test_other_texts_are_stored_and_change_nothing(callback):
    for body in ["stop please", "Hello!", "", "STOP STOP"]:
        assert callback({"from": NUMBER, "body": body}).json()["keyword"] == ""
    assert InboundSms.objects.count() == 4
    assert not OptOut.objects.exists()
    assert replies() == []
    # A sender that is no number (an alphanumeric id) is kept, and cannot opt out.
    callback({"from": "ACME", "body": "STOP"})
    assert InboundSms.objects.get(sender="ACME").keyword == ""
    assert not OptOut.objects.exists()


def test_a_repeated_keyword_gets_no_second_reply_at_once(callback):
    for _ in range(3):
        callback({"from": NUMBER, "body": "HELP"})
    assert len(replies()) == 1
    assert InboundSms.objects.count() == 3


@pytest.mark.parametrize("token", [None, "wrong", "", f"{TOKEN}x"])
def test_a_callback_without_the_token_is_403_and_changes_nothing(callback, token):
    response = callback({"from": NUMBER, "body": "STOP"}, token=token)
    assert response.status_code == 403
    assert not InboundSms.objects.exists()
    assert not OptOut.objects.exists()


def test_with_no_token_configured_the_callback_refuses_everything(callback, settings, api):
    settings.SMS_CALLBACK_TOKEN = ""
    assert callback({"from": NUMBER, "body": "STOP"}, token="").status_code == 403
    assert not InboundSms.objects.exists()


def test_bad_bodies_are_400_and_store_nothing(callback):
    for body in [{}, {"body": "STOP"}, {"from": NUMBER}, {"from": NUMBER, "body": 5}]:
        assert callback(body).status_code == 400, body
    assert not InboundSms.objects.exists()


def test_an_opted_out_number_gets_the_stop_reply_and_nothing_else(
    callback, settings, fast_sms, manager
):
    """A STOP mid-campaign stops the rest: each record is checked as it is sent."""
    services.sms_send(actor=manager, message="Sale today", to=[NUMBER])
    callback({"from": NUMBER, "body": "STOP"})
    for record in SmsMessage.objects.order_by("id"):
        sending.attempt(message_id=record.pk)
    statuses = dict(SmsMessage.objects.values_list("kind", "status"))
    assert statuses == {"message": "skipped", "reply": "sent"}
    assert [sms.body for sms in fast_sms] == [settings.SMS_STOP_TEXT]


def test_every_opt_in_and_opt_out_is_logged_whatever_its_source(
    callback, manager, client_for, moderator
):
    client = client_for(manager)
    assert client.post("/api/sms/opt-outs/", {"number": "+14155550124"}).status_code == 201
    assert client.post("/api/sms/opt-outs/", {"number": "+14155550124"}).status_code == 200
    assert client.delete("/api/sms/opt-outs/+14155550124/").status_code == 204
    callback({"from": NUMBER, "body": "STOP"})
    page = moderator.post("/admin/campaigns/optout/add/", {"number": "+1 415 555 0125"})
    assert page.status_code == 302, page.content.decode()[-2000:]
    added = OptOut.objects.get(number="+14155550125")
    page = moderator.post(f"/admin/campaigns/optout/{added.pk}/delete/", {"post": "yes"})
    assert page.status_code == 302
    log = [(e.number, e.event, e.source) for e in ConsentEvent.objects.order_by("id")]
    assert log == [
        ("+14155550124", "opt_out", "api"),
        ("+14155550124", "opt_in", "api"),
        (NUMBER, "opt_out", "keyword"),
        ("+14155550125", "opt_out", "admin"),
        ("+14155550125", "opt_in", "admin"),
    ]
    assert ConsentEvent.objects.filter(source="api").first().actor == manager
    # Admin lists the log and exports it.
    assert moderator.get("/admin/campaigns/consentevent/").status_code == 200
    assert moderator.get("/admin/campaigns/inboundsms/").status_code == 200
    export = moderator.post(
        "/admin/campaigns/consentevent/",
        {
            "action": "export_consent_csv",
            "_selected_action": list(ConsentEvent.objects.values_list("pk", flat=True)),
        },
    )
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == ["number", "event", "source", "time", "by", "inbound message"]
    assert [row[:3] for row in rows[1:]] == [list(entry) for entry in log]
    assert rows[3][5] == "STOP"


def test_the_keywords_are_as_spec_says():
    assert {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"} == inbound.STOP
    assert {"start", "unstop", "yes"} == inbound.START
    assert {"help", "info"} == inbound.HELP
    assert call_command("check") is None


def test_other_methods_are_405_not_403(callback, api):
    assert api.get(URL).status_code == 405
    assert api.put(URL, {}, format="json").status_code == 405


def test_stop_start_stop_gets_three_replies_and_a_loop_is_cut(callback, settings, monkeypatch):
    for word in ("STOP", "START", "STOP"):
        callback({"from": NUMBER, "body": word})
    assert [body for _, body in replies()] == [
        settings.SMS_STOP_TEXT, settings.SMS_START_TEXT, settings.SMS_STOP_TEXT,
    ]  # fmt: skip
    monkeypatch.setattr(inbound, "REPLIES_PER_DAY", 4)
    for word in ("START", "STOP", "START", "STOP"):  # an autoresponder's ping-pong
        callback({"from": NUMBER, "body": word})
    assert len(replies()) == 4
    assert OptOut.objects.filter(number=NUMBER).exists()  # consent still follows every word


def test_a_sender_without_its_plus_still_opts_out(callback):
    callback({"from": "14155550123", "body": "STOP"})
    assert OptOut.objects.filter(number=NUMBER).exists()


def test_a_stop_during_the_limiter_wait_still_stops_the_text(
    callback, fast_sms, manager, monkeypatch
):
    services.sms_send(actor=manager, message="Sale today", to=[NUMBER])
    record = SmsMessage.objects.get()
    limiter = sending.get_limiter()
    wait = limiter.wait

    def slow_wait(segments):
        slot = wait(segments)
        callback({"from": NUMBER, "body": "STOP"})  # while this text waited its turn
        return slot

    monkeypatch.setattr(type(limiter), "wait", lambda self, segments: slow_wait(segments))
    assert sending.attempt(message_id=record.pk) == "skipped"
    record.refresh_from_db()
    assert record.status == "skipped"
    assert fast_sms == []


def test_a_keyword_s_reply_goes_ahead_of_a_campaign_s_backlog(callback, manager):
    campaign = services.campaign_create(
        actor=manager, name="big", message="Hi",
        recipients=[f"+1415555{n:04d}" for n in range(2000, 2010)],
    )  # fmt: skip
    services.campaign_launch(campaign=campaign)
    SmsMessage.objects.update(dispatched_at=None)
    callback({"from": NUMBER, "body": "HELP"})
    reply = SmsMessage.objects.get(kind="reply")
    assert sending.dispatch_due(limit=1) == [reply.pk]


def test_the_consent_export_keeps_formulas_as_text():
    assert admin_module._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert admin_module._cell("-2+3") == "'-2+3"
    assert admin_module._cell("+14155550123") == "'+14155550123"
    assert admin_module._cell("alice") == "alice"


def test_a_stop_cancels_a_subscribed_again_not_yet_sent_and_nothing_else(callback, settings):
    callback({"from": NUMBER, "body": "HELP"})
    callback({"from": NUMBER, "body": "START"})
    callback({"from": NUMBER, "body": "STOP"})
    assert dict(SmsMessage.objects.values_list("body", "status")) == {
        settings.SMS_HELP_TEXT: "queued",
        settings.SMS_START_TEXT: "cancelled",
        settings.SMS_STOP_TEXT: "queued",
    }
    callback({"from": NUMBER, "body": "HELP"})  # the STOP's answer is still owed
    assert SmsMessage.objects.filter(body=settings.SMS_STOP_TEXT, status="queued").exists()


def test_an_imported_list_is_logged_as_imported(tmp_path):
    listed = tmp_path / "suppressed.csv"
    listed.write_text("number\n+1 (415) 555-0123\n+14155550124; nope\n+14155550123\n")
    out, err = io.StringIO(), io.StringIO()
    call_command("import_optouts", str(listed), stdout=out, stderr=err)
    assert out.getvalue().strip() == "2 opted out, 1 already were, 2 not phone numbers."
    assert "'nope'" in err.getvalue()
    assert "'number'" in err.getvalue()  # a header is no number
    assert sorted(OptOut.objects.values_list("number", "source")) == [
        ("+14155550123", "import"),
        ("+14155550124", "import"),
    ]
    assert set(ConsentEvent.objects.values_list("source", "event")) == {("import", "opt_out")}

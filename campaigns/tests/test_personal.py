"""SPEC section 14, personal texts and the preview: `{{placeholders}}` filled per recipient
from REST objects or CSV columns, with per-text encoding and segments; a placeholder with
no value for someone refuses the create, naming them; the preview says what launching
would do, without doing it."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns import personal, sending, services
from campaigns.models import Campaign, OptOut, SmsMessage

pytestmark = pytest.mark.django_db
ANN, BO, CY = "+14155550101", "+14155550102", "+14155550103"


@pytest.fixture
def api_manager(client_for, manager, fast_sms):
    return client_for(manager)


def create(api, message, recipients, **fields):
    payload = {"name": "Personal", "message": message, "recipients": recipients, **fields}
    return api.post("/api/campaigns/", payload, format="json")


def test_placeholders_are_read_without_regard_to_case_or_spaces():
    assert personal.placeholders("Hi {{ Name }}, {{city}} {{NAME}} {{first_name}}") == [
        "name",
        "city",
        "first_name",
    ]
    assert personal.render("Hi {{ Name }}!", {"name": "Ann"}) == ("Hi Ann!", [])
    assert personal.render("Hi {{name}} {{x}}", {"name": ""}) == ("Hi  ", ["name", "x"])
    assert personal.field_name(" First  name ") == "first_name"
    # Not placeholders: single braces, names that are not names.
    assert personal.placeholders("{name} {{1x}} {{ }} {{a-b}}") == []


def test_each_recipient_gets_their_own_text_encoding_and_segments(api_manager):
    response = create(
        api_manager,
        "Hi {{name}}, your code is {{code}}.",
        [
            {"to": ANN, "name": "Ann", "code": 1234},
            {"to": "+1 415 555 0102", "name": "Борис", "code": "X9"},
            {"to": CY, "name": "C" * 150, "code": "7"},
        ],
    )
    assert response.status_code == 201, response.json()
    texts = {sms.to: sms for sms in SmsMessage.objects.all()}
    assert texts[ANN].body == "Hi Ann, your code is 1234."
    assert (texts[ANN].encoding, texts[ANN].segments) == ("GSM-7", 1)
    assert texts[BO].body == "Hi Борис, your code is X9."
    assert (texts[BO].encoding, texts[BO].segments) == ("UCS-2", 1)
    assert (texts[CY].encoding, texts[CY].segments) == ("GSM-7", 2)
    body = response.json()
    assert body["segments_total"] == 4  # their sum
    assert (body["encoding"], body["segments_per_message"]) == ("UCS-2", 2)
    assert body["message"] == "Hi {{name}}, your code is {{code}}."


def test_a_placeholder_without_a_value_refuses_the_create_naming_the_recipients(api_manager):
    response = create(
        api_manager,
        "Hi {{name}} from {{city}}",
        [
            {"to": ANN, "name": "Ann", "city": "Oslo"},
            {"to": BO, "name": "", "city": "Rome"},
            {"to": CY, "city": "Lima"},
            "+14155550104",
        ],
    )
    assert response.status_code == 400
    errors = response.json()["recipients"]
    assert errors == [
        f"No value for {{{{name}}}} for {BO}, {CY}, +14155550104.",
        "No value for {{city}} for +14155550104.",
    ]
    assert not Campaign.objects.exists()
    assert not SmsMessage.objects.exists()


def test_a_long_list_of_recipients_without_values_is_cut_short(api_manager):
    recipients = [f"+1415555{n:04d}" for n in range(1000, 1030)]
    errors = create(api_manager, "Hi {{name}}", recipients).json()["recipients"]
    assert errors[0].endswith("and 10 more.")


def test_bad_fields_and_texts_too_long_once_filled_are_refused(api_manager):
    response = create(api_manager, "Hi {{name}}", [{"to": ANN, "name": ["a list"]}])
    assert response.status_code == 400
    assert "'name' must be text or a number" in response.json()["recipients"][0]
    response = create(api_manager, "Hi {{name}}", [{"to": ANN, "name": "x" * 501}])
    assert "over 500 characters" in response.json()["recipients"][0]
    response = create(
        api_manager, "{{a}}{{b}}{{c}}{{d}}", [{"to": ANN} | dict.fromkeys("abcd", "x" * 450)]
    )
    assert response.json()["recipients"] == [f"Over 1600 characters once filled in for {ANN}."]
    response = create(api_manager, "Hi {{name}}", [{"name": "no number"}, 42])
    assert response.status_code == 400
    assert not Campaign.objects.exists()


def test_a_number_given_twice_is_sent_once_with_its_first_fields(api_manager):
    create(
        api_manager,
        "Hi {{name}}",
        [{"to": ANN, "name": "Ann"}, {"to": "+1 (415) 555-0101", "name": "Again"}],
    )
    assert list(SmsMessage.objects.values_list("body", flat=True)) == ["Hi Ann"]


def test_smart_encoding_works_per_text(api_manager):
    message = "Hi {{name}}, " + "x" * 80  # UCS-2 would take two segments, GSM-7 one
    recipients = [{"to": ANN, "name": "“Ann”"}, {"to": BO, "name": "Борис"}]
    create(api_manager, message, recipients, smart_encoding=True)
    texts = {sms.to: sms for sms in SmsMessage.objects.all()}
    assert texts[ANN].body.startswith('Hi "Ann",')
    assert (texts[ANN].encoding, texts[ANN].segments) == ("GSM-7", 1)
    assert (texts[BO].encoding, texts[BO].segments) == ("UCS-2", 2)


# --- the preview ------------------------------------------------------------------------


def test_the_preview_totals_and_shows_the_first_hundred_texts(
    api_manager, django_assert_max_num_queries
):
    recipients = [{"to": f"+1415555{n:04d}", "name": f"P{n}"} for n in range(1000, 1120)]
    recipients.append({"to": "+33612345678", "name": "Zoé Ж"})
    campaign_id = create(api_manager, "Hello {{name}}", recipients).json()["id"]
    OptOut.objects.create(number="+14155551001")  # opted out after the create
    # The token, the user's permissions, the campaign, the totals, the first hundred:
    # the same for any size.
    with django_assert_max_num_queries(6):
        response = api_manager.post(f"/api/campaigns/{campaign_id}/preview/")
    assert response.status_code == 200
    preview = response.json()
    assert preview["recipients"] == 121
    assert preview["skipped"] == 1
    assert preview["deferred"] == 0
    assert preview["segments"] == 120
    assert preview["encodings"] == {"GSM-7": 119, "UCS-2": 1}
    assert preview["eta_seconds"] == pytest.approx(120 / 10_000, abs=0.1)
    assert len(preview["texts"]) == 100
    first, second = preview["texts"][:2]
    assert first == {
        "to": "+14155551000",
        "body": "Hello P1000",
        "encoding": "GSM-7",
        "segments": 1,
        "outcome": "send",
        "deferred_until": None,
    }
    assert second["outcome"] == "skipped"
    # Nothing changed: still a draft, nothing sent or skipped anew.
    assert Campaign.objects.get().status == "draft"
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {"queued"}


def test_the_preview_shows_quiet_hours_deferrals_and_their_eta(api_manager):
    local = timezone.now().astimezone(ZoneInfo("America/Los_Angeles"))
    hours = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=2)).strftime("%H:%M"),
    }
    campaign_id = create(api_manager, "Hi", [ANN, "+33612345678"], quiet_hours=hours).json()["id"]
    preview = api_manager.post(f"/api/campaigns/{campaign_id}/preview/").json()
    assert preview["deferred"] == 1
    outcomes = {text["to"]: text for text in preview["texts"]}
    assert outcomes["+33612345678"]["outcome"] == "send"
    assert outcomes[ANN]["outcome"] == "deferred"
    assert outcomes[ANN]["deferred_until"] is not None
    assert preview["eta_seconds"] > 3600


def test_the_preview_is_read_at_send_at_for_a_scheduled_campaign(api_manager):
    send_at = timezone.now() + timedelta(days=2)
    campaign_id = create(api_manager, "Hi", [ANN], send_at=send_at.isoformat()).json()["id"]
    preview = api_manager.post(f"/api/campaigns/{campaign_id}/preview/").json()
    assert abs(timezone.datetime.fromisoformat(preview["starts_at"]) - send_at) < timedelta(
        seconds=1
    )
    assert preview["eta_seconds"] > 2 * 86_400 - 60


def test_the_preview_is_for_senders_only(client_for, alice, api_manager):
    campaign_id = create(api_manager, "Hi", [ANN]).json()["id"]
    assert client_for(alice).post(f"/api/campaigns/{campaign_id}/preview/").status_code == 403
    assert api_manager.post("/api/campaigns/999999/preview/").status_code == 404


def test_a_personal_campaign_sends_each_its_own_text(api_manager, fast_sms):
    campaign_id = create(
        api_manager, "Hi {{name}}", [{"to": ANN, "name": "Ann"}, {"to": BO, "name": "Bo"}]
    ).json()["id"]
    services.campaign_launch(campaign=Campaign.objects.get(pk=campaign_id))
    for record in SmsMessage.objects.all():
        sending.attempt(message_id=record.pk)
    assert sorted((sms.to, sms.body) for sms in fast_sms) == [(ANN, "Hi Ann"), (BO, "Hi Bo")]

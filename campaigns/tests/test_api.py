"""REST for SMS and campaigns: permissions, validation, shapes, idempotency."""

import pytest

from campaigns import services
from campaigns.models import Campaign, OptOut, SmsMessage
from campaigns.serializers import CampaignDetailSerializer

pytestmark = pytest.mark.django_db
NUMBERS = ["+14155550101", "+14155550102", "+442071838750"]


@pytest.fixture
def api_manager(client_for, manager, fast_sms):
    return client_for(manager)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/sms/segments/"),
        ("post", "/api/sms/send/"),
        ("get", "/api/campaigns/"),
        ("post", "/api/campaigns/"),
        ("get", "/api/campaigns/1/"),
        ("post", "/api/campaigns/1/launch/"),
        ("post", "/api/campaigns/1/cancel/"),
        ("get", "/api/campaigns/1/messages/"),
        ("get", "/api/sms/opt-outs/"),
        ("post", "/api/sms/opt-outs/"),
        ("delete", "/api/sms/opt-outs/+14155550101/"),
    ],
)
def test_users_without_the_permission_get_403(client_for, alice, method, path):
    response = getattr(client_for(alice), method)(path, {}, format="json")
    assert response.status_code == 403


def test_superusers_have_the_permission(client_for, alice, fast_sms):
    alice.is_superuser = True
    alice.save()
    assert client_for(alice).get("/api/campaigns/").status_code == 200


def test_segments_preview(api_manager):
    response = api_manager.post("/api/sms/segments/", {"message": "Hi 😀"})
    assert response.json() == {
        "encoding": "UCS-2",
        "segments": 1,
        "characters": 4,
        "units": 5,
        "per_segment": 70,
        "non_gsm_characters": ["😀"],
        "remaining": 65,
    }
    smart = api_manager.post(
        "/api/sms/segments/", {"message": "It\u2019s " + "x" * 90, "smart_encoding": True}
    ).json()
    assert (smart["encoding"], smart["segments"]) == ("GSM-7", 1)
    assert api_manager.post("/api/sms/segments/", {"message": ""}).status_code == 400
    assert SmsMessage.objects.count() == 0


def test_send_normalises_dedupes_and_answers_202(api_manager):
    response = api_manager.post(
        "/api/sms/send/",
        {"message": "Hello", "to": ["+1 (415) 555-0101", "+14155550101", "+442071838750"]},
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["encoding"], body["segments"]) == ("GSM-7", 1)
    assert [(m["to"], m["status"]) for m in body["messages"]] == [
        ("+14155550101", "queued"),
        ("+442071838750", "queued"),
    ]


def test_any_bad_number_refuses_the_whole_request_naming_each(api_manager):
    response = api_manager.post(
        "/api/sms/send/",
        {"message": "Hello", "to": ["+14155550101", "12", "not a number", "+1415555010"]},
    )
    assert response.status_code == 400
    errors = response.json()["to"]
    assert len(errors) == 3
    assert all(any(bad in e for e in errors) for bad in ["'12'", "'not a number'", "'+1415555010'"])
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"message": "", "to": NUMBERS},
        {"message": "x" * 1601, "to": NUMBERS},
        {"message": "hi", "to": []},
        {"message": "hi"},
        {"to": NUMBERS},
    ],
)
def test_bad_send_requests_queue_nothing(api_manager, payload):
    assert api_manager.post("/api/sms/send/", payload, format="json").status_code == 400
    assert SmsMessage.objects.count() == 0


def test_idempotency_key_replays_the_first_answer(api_manager):
    payload = {"message": "Once", "to": NUMBERS[:2]}
    first = api_manager.post("/api/sms/send/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api_manager.post("/api/sms/send/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert SmsMessage.objects.count() == 2
    different = api_manager.post(
        "/api/sms/send/",
        {"message": "Other", "to": NUMBERS[:1]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert different.status_code == 409
    other_key = api_manager.post(
        "/api/sms/send/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert other_key.status_code == 202
    assert SmsMessage.objects.count() == 4


def test_campaign_lifecycle(api_manager):
    created = api_manager.post(
        "/api/campaigns/",
        {"name": "Spring sale", "message": "Sale! " + "x" * 200, "recipients": NUMBERS},
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["encoding"], body["segments_per_message"]) == ("draft", "GSM-7", 2)
    assert body["counts"]["queued"] == 3
    assert body["segments_total"] == 6
    assert body["eta_seconds"] is None
    campaign_id = body["id"]
    launched = api_manager.post(f"/api/campaigns/{campaign_id}/launch/")
    assert launched.status_code == 202
    assert launched.json()["status"] == "running"
    assert launched.json()["eta_seconds"] == round(6 / 10_000, 1)
    assert api_manager.post(f"/api/campaigns/{campaign_id}/launch/").status_code == 409
    messages = api_manager.get(f"/api/campaigns/{campaign_id}/messages/?status=queued").json()
    assert len(messages["results"]) == 3
    assert api_manager.get(f"/api/campaigns/{campaign_id}/messages/?status=nope").status_code == 400
    cancelled = api_manager.post(f"/api/campaigns/{campaign_id}/cancel/")
    assert cancelled.json()["counts"]["cancelled"] == 3
    assert api_manager.post(f"/api/campaigns/{campaign_id}/cancel/").status_code == 409
    # Every detail answer has exactly the fields the schema describes.
    detail = api_manager.get(f"/api/campaigns/{campaign_id}/").json()
    fields = set(CampaignDetailSerializer().fields)
    assert all(set(answer) == fields for answer in (body, launched.json(), detail))


def test_campaign_with_a_bad_number_writes_nothing(api_manager):
    response = api_manager.post(
        "/api/campaigns/", {"name": "x", "message": "m", "recipients": [*NUMBERS, "555"]}
    )
    assert response.status_code == 400
    assert response.json()["recipients"] == ["'555' is not a valid phone number."]
    assert not Campaign.objects.exists()
    assert not SmsMessage.objects.exists()


def test_campaign_with_opted_out_recipient(api_manager):
    services.optout_add(number=NUMBERS[0])
    body = api_manager.post(
        "/api/campaigns/", {"name": "x", "message": "m", "recipients": NUMBERS}
    ).json()
    assert body["counts"]["skipped"] == 1
    assert body["segments_total"] == 2


def test_unknown_campaign_is_404(api_manager):
    assert api_manager.get("/api/campaigns/999/").status_code == 404
    assert api_manager.post("/api/campaigns/999/launch/").status_code == 404


def test_opt_outs(api_manager):
    added = api_manager.post("/api/sms/opt-outs/", {"number": "+1 415 555 0101"})
    assert added.status_code == 201
    assert added.json()["number"] == "+14155550101"
    assert api_manager.post("/api/sms/opt-outs/", {"number": "+14155550101"}).status_code == 200
    assert api_manager.post("/api/sms/opt-outs/", {"number": "nope"}).status_code == 400
    listed = api_manager.get("/api/sms/opt-outs/").json()["results"]
    assert [row["number"] for row in listed] == ["+14155550101"]
    assert api_manager.delete("/api/sms/opt-outs/+14155550101/").status_code == 204
    assert api_manager.delete("/api/sms/opt-outs/%2B14155550101/").status_code == 404
    assert not OptOut.objects.exists()


def test_campaign_list_query_count(api_manager, manager, django_assert_num_queries):
    for i in range(3):
        services.campaign_create(actor=manager, name=f"c{i}", message="m", recipients=NUMBERS)
    # token, the user's own and group permissions, the page
    with django_assert_num_queries(4):
        assert len(api_manager.get("/api/campaigns/").json()["results"]) == 3
    for i in range(27):
        services.campaign_create(actor=manager, name=f"d{i}", message="m", recipients=NUMBERS)
    with django_assert_num_queries(4):
        assert len(api_manager.get("/api/campaigns/").json()["results"]) == 30


def test_launch_of_a_big_campaign_is_one_update(manager, fast_sms, django_assert_max_num_queries):
    campaign = services.campaign_create(
        actor=manager,
        name="big",
        message="m",
        recipients=[f"+1415555{n:04d}" for n in range(1000, 3000)],
    )
    assert campaign.messages.count() == 2000
    # savepoint, one UPDATE, release, the refresh: nothing per recipient
    with django_assert_max_num_queries(4):
        services.campaign_launch(campaign=campaign)


def test_the_managers_group_holds_exactly_the_send_permission(manager):
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="Campaign managers")
    assert [p.codename for p in group.permissions.all()] == ["send_sms"]
    assert manager.has_perm("campaigns.send_sms")


@pytest.mark.parametrize(
    "text",
    [
        "a" * 160,
        "a" * 161,
        "a" * 152 + "€" + "a" * 153,
        "€" * 81,
        "x" * 66 + "😀" + "y" * 67,
        "line one\r\nline two",
        "\u201cquoted\u201d \u2013 text\u2026",
    ],
)
@pytest.mark.parametrize("smart", [False, True])
def test_preview_endpoint_matches_the_segment_module(api_manager, text, smart):
    from campaigns.segments import analyze_for_sending

    _, info = analyze_for_sending(text, smart_encoding=smart)
    expected = info.as_dict()
    response = api_manager.post("/api/sms/segments/", {"message": text, "smart_encoding": smart})
    assert response.json() == expected


def test_pasted_entries_split_at_lines_commas_and_semicolons_only():
    assert services.split_pasted("+1 (415) 555-0143\r\n+1 415 555 0142") == [
        "+1 (415) 555-0143",
        "+1 415 555 0142",
    ]
    assert services.split_pasted(" a ,b;c\n\n, ;") == ["a", "b", "c"]
    assert services.split_pasted("") == []
    assert [services.normalize_number(n) for n in services.split_pasted("+1.415.555.0144")] == [
        "+14155550144"
    ]

"""No input a browser can send makes a web page answer 5xx: every form and filter of the
web UI, with every field holding each malformed value, answers 2xx, 3xx or 4xx."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from boards.services import board_create
from chat import memberships, services

pytestmark = pytest.mark.django_db

# What a browser can put in a form field: no lone surrogates (it sends U+FFFD instead).
BAD = ["\x00", "a\x00b", "x" * 20_000, " ", "\u202e\u200b", "<script>alert(1)</script>", "9" * 30]
FORMS = {
    "/signup/": ["username", "name", "email", "password"],
    "/login/": ["username", "password"],
    "/new/": ["kind", "name", "members"],
    "/direct/": ["username", "text"],
    "/c/{group}/send/": ["text"],
    "/c/{group}/members/": ["username"],
    "/c/{group}/members/{bob}/remove/": [],
    "/c/{room}/join/": [],
    "/blocks/": ["username"],
    "/boards/": ["name"],
    "/boards/{board}/": ["topic", "data"],
    "/campaigns/new/": ["name", "message", "recipients", "smart_encoding"],
    "/campaigns/{campaign}/requeue/": ["message"],
}
FILTERS = [
    "/rooms/?q={value}",
    "/boards/{board}/?topic={value}",
    "/direct/?to={value}",
    "/c/{group}/?before={value}",
]


@pytest.fixture
def places(alice, bob):
    group = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=group, user_id=bob.pk)
    room = services.conversation_create(actor=bob, kind="room", name="Lobby")
    board = board_create(actor=alice, name="General")
    alice.user_permissions.add(Permission.objects.get(codename="send_sms"))
    from campaigns.services import campaign_create

    campaign = campaign_create(actor=alice, name="C", message="hi", recipients=["+14155550101"])
    return {"group": group.pk, "room": room.pk, "board": board.pk, "bob": bob.pk,
            "campaign": campaign.pk}  # fmt: skip


@pytest.mark.parametrize("path", sorted(FORMS))
def test_no_form_answers_5xx(alice, places, path):
    browser = Client(raise_request_exception=False)
    if path not in ("/signup/", "/login/"):
        browser.force_login(type(alice).objects.get(pk=alice.pk))
    url = path.format(**places)
    for value in BAD:
        response = browser.post(url, dict.fromkeys(FORMS[path], value))
        assert response.status_code < 500, (url, value[:20], response.status_code)


@pytest.mark.parametrize("path", FILTERS)
def test_no_filter_answers_5xx(alice, places, path):
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)
    for value in ["%00", "a%00b", "x" * 5000, "%E2%80%AE", "9" * 30, "-1"]:
        url = path.format(value=value, **places)
        response = browser.get(url)
        assert response.status_code < 500, (url[:80], response.status_code)

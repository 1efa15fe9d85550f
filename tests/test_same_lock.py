"""Every door has the same lock: the web pages take the API's throttles and rules, and
malformed input gets a clear 4xx everywhere, never a 500, with nothing written.

Through Django's test client against PostgreSQL and Redis (the throttles' counts).
"""

import base64
import json
from urllib.parse import quote, urlencode

import pytest
from django.test import Client

from accounts.models import User
from boards.services import board_create, board_post
from chat import memberships, services
from chat.models import Message
from conftest import PASSWORD, forget_throttle_counts

pytestmark = pytest.mark.django_db
TOO_BIG = 2**63


@pytest.fixture
def throttles(settings):
    """Throttles on, at small rates, from empty counts."""
    forget_throttle_counts()
    settings.THROTTLES_ENABLED = True
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user_write": "5/min", "register": "3/hour", "token": "4/min"},
    }
    yield
    forget_throttle_counts()


@pytest.fixture
def group(alice, bob):
    conversation = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
    return conversation


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_throttled(response):
    assert response.status_code == 429, response.status_code
    assert int(response["Retry-After"]) >= 1
    assert b"Try again in" in response.content


# --- throttles ------------------------------------------------------------------------------


def test_web_signup_shares_the_register_budget_of_the_address(throttles, api):
    assert (
        api.post("/api/auth/register/", {"username": "x1", "password": PASSWORD}).status_code == 201
    )
    for n in (2, 3):  # a new browser each time: one that signed up is signed in
        response = Client().post("/signup/", {"username": f"x{n}", "password": PASSWORD})
        assert response.status_code == 302, response.content
    assert_throttled(Client().post("/signup/", {"username": "x4", "password": PASSWORD}))
    assert (
        api.post("/api/auth/register/", {"username": "x5", "password": PASSWORD}).status_code == 429
    )
    assert not User.objects.filter(username__in=["x4", "x5"]).exists()
    assert Client().get("/signup/").status_code == 200  # reading the page is never counted


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api-auth/login/"])
def test_every_sign_in_page_counts_against_the_address(throttles, alice, api, path):
    page = Client()
    for _ in range(3):
        response = page.post(path, {"username": "alice", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    api.post("/api/auth/token/", {"username": "alice", "password": "wrong"})
    # Past the budget even the right password waits.
    assert_throttled(page.post(path, {"username": "alice", "password": PASSWORD}))
    assert "_auth_user_id" not in page.session


def test_web_sends_share_the_users_write_budget_with_rest(throttles, alice, group, client_for):
    api = client_for(alice)
    for n in range(3):
        response = api.post(f"/api/conversations/{group.pk}/messages/", {"text": f"api {n}"})
        assert response.status_code == 201
    page = signed_in(alice)
    for n in range(2):
        assert page.post(f"/c/{group.pk}/send/", {"text": f"page {n}"}).status_code == 302
    assert_throttled(page.post(f"/c/{group.pk}/send/", {"text": "one too many"}))
    assert api.post(f"/api/conversations/{group.pk}/messages/", {"text": "x"}).status_code == 429
    assert Message.objects.filter(conversation=group).count() == 5


def test_throttles_off_counts_nothing(settings, alice, group):
    settings.THROTTLES_ENABLED = False
    page = signed_in(alice)
    for n in range(30):
        assert page.post(f"/c/{group.pk}/send/", {"text": f"m{n}"}).status_code == 302


# --- one rule for names ---------------------------------------------------------------------

LOOKALIKES = ["<b>u</b>", "al\u200bice", "ali\u202ece", "a/b", "bob\x00", "e\ud800"]


@pytest.mark.parametrize("username", LOOKALIKES)
def test_web_signup_refuses_what_the_api_refuses(username, api):
    response = api.post(
        "/api/auth/register/",
        json.dumps({"username": username, "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 400
    if "\ud800" not in username:  # a browser sends U+FFFD for a lone surrogate in a form
        page = Client().post("/signup/", {"username": username, "password": PASSWORD})
        assert page.status_code == 200  # the form again, with its error
    assert User.objects.count() == 0


def test_a_long_display_name_is_a_form_error_not_a_500(api):
    for length in (101, 150):
        page = Client().post(
            "/signup/", {"username": f"n{length}", "password": PASSWORD, "name": "n" * length}
        )
        assert page.status_code == 200
        assert b"100 characters" in page.content
        response = api.post(
            "/api/auth/register/",
            {"username": f"n{length}", "password": PASSWORD, "name": "n" * length},
        )
        assert response.status_code == 400
    assert User.objects.count() == 0
    assert (
        Client()
        .post("/signup/", {"username": "ok", "password": PASSWORD, "name": "n" * 100})
        .status_code
        == 302
    )


# --- malformed input is a 4xx, with nothing written -----------------------------------------


def test_nul_in_the_web_send_is_refused(alice, group):
    page = signed_in(alice)
    response = page.post(f"/c/{group.pk}/send/", {"text": "a\x00b"}, follow=True)
    assert response.status_code == 200
    assert b"NUL" in response.content
    assert not Message.objects.exists()


def test_nul_in_filters_is_a_400(alice, client_for):
    board = board_create(actor=alice, name="General")
    board_post(actor=alice, board=board, topic="news", data="hello")
    page = signed_in(alice)
    assert page.get(f"/boards/{board.pk}/?topic=a%00b").status_code == 400
    assert page.get("/rooms/?q=a%00b").status_code == 400
    api = client_for(alice)
    assert api.get(f"/api/boards/{board.pk}/messages/?topic=a%00b").status_code == 400
    assert api.get("/api/rooms/?search=a%00b").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        f"/api/conversations/{TOO_BIG}/messages/",
        f"/api/conversations/{TOO_BIG * 1000}/",
        f"/api/users/{TOO_BIG}/",
        f"/api/blocks/{TOO_BIG}/",
        f"/c/{TOO_BIG}/",
    ],
)
def test_an_id_past_64_bits_is_404(alice, client_for, path):
    api = client_for(alice)
    answers = [
        api.get(path).status_code,
        api.post(path, {"text": "hi", "user_id": 1}).status_code,
        api.delete(path).status_code,
    ]
    assert 404 in answers
    assert set(answers) <= {404, 405}, answers


def cursor(**query) -> str:
    return base64.b64encode(urlencode(query).encode()).decode()


def activity_cursor(token) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


@pytest.mark.parametrize(
    "forged",
    [
        cursor(p="abc"),
        cursor(p=str(TOO_BIG)),
        cursor(p="-5"),
        cursor(p="\u00b2"),
        cursor(o="1", p="x"),
        "not base64 at all",
    ],
)
def test_a_forged_id_cursor_is_404(alice, group, client_for, forged):
    api = client_for(alice)
    response = api.get(f"/api/conversations/{group.pk}/members/?cursor={quote(forged)}")
    assert response.status_code == 404


def test_a_forged_board_cursor_is_404(alice, client_for):
    board_create(actor=alice, name="General")
    api = client_for(alice)
    response = api.get(f"/api/boards/?cursor={quote(cursor(p='a' + chr(0)))}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        ["2026-01-01T00:00:00", 1, 0],  # no time zone
        ["2026-01-01T00:00:00+00:00", TOO_BIG, 0],
        ["2026-01-01T00:00:00+00:00", -1, 0],
        ["not a time", 1, 0],
        ["2026-01-01T00:00:00+00:00", 1],
        {"a": 1},
    ],
)
def test_a_forged_conversation_list_cursor_is_404(alice, group, client_for, token):
    api = client_for(alice)
    for path in ("/api/conversations/", "/api/inbox/"):
        response = api.get(f"{path}?cursor={activity_cursor(token)}")
        assert response.status_code == 404, (path, response.content)


def test_json_nested_100000_deep_is_a_400(alice, group, client_for):
    api = client_for(alice)
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(
        f"/api/conversations/{group.pk}/messages/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert not Message.objects.exists()


@pytest.mark.parametrize("limit", ["9" * 5000, "1.5", "1e3", "0", "-1"])
def test_a_limit_that_is_no_page_size_is_400(alice, group, client_for, limit):
    api = client_for(alice)
    for path in ("/api/conversations/", "/api/blocks/", f"/api/conversations/{group.pk}/members/"):
        assert api.get(f"{path}?limit={limit}").status_code == 400, path


def test_cursors_with_huge_numbers_are_404(alice, group, client_for):
    api = client_for(alice)
    huge = cursor(p="9" * 5000)
    assert api.get(f"/api/blocks/?cursor={quote(huge)}").status_code == 404
    assert api.get(f"/api/rooms/?cursor={quote(huge)}").status_code == 404
    for number in (1e400, 1.5, True):
        token = activity_cursor(["2026-01-01T00:00:00+00:00", number, 0])
        assert api.get(f"/api/conversations/?cursor={token}").status_code == 404

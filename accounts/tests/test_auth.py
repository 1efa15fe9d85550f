"""Who may call what: 401 for the anonymous everywhere but the public endpoints."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token

from accounts.services import users_deactivate
from conftest import PASSWORD, forget_throttle_counts
from messaging_site import db

pytestmark = pytest.mark.django_db

PUBLIC_API = {"/api/auth/register/", "/api/auth/token/", "/api/schema/", "/api/docs/"}
# Called by SMS providers, not users: their own token, secret or signature, or 403 (SPEC
# section 14).
CALLBACKS = {
    f"/api/sms/{kind}/{backend}/"
    for kind in ("inbound", "dlr")
    for backend in ("http", "kannel", "twilio")
}


@pytest.fixture
def throttles(settings):
    """Turn throttles on with the given rates, from an empty count."""

    def configure(**rates):
        forget_throttle_counts()
        settings.THROTTLES_ENABLED = True
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return configure


def _api_paths():
    """Every route under /api/, with sample ids filled in: a new route is covered at once."""

    def walk(patterns, prefix=""):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                yield route

    for route in walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        path = route.replace("^", "").replace("$", "")
        path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", path)
        path = re.sub(r"<[^>]+>", "1", path)
        path = path.replace("\\.", ".")
        if "(" in path or "[" in path or "format" in path:
            continue  # format-suffix variants of the same views
        yield "/" + path


API_PATHS = sorted(set(_api_paths()))


def test_the_route_walk_finds_the_api():
    assert {"/api/users/me/", "/api/blocks/", "/api/users/1/"} <= set(API_PATHS)


@pytest.mark.parametrize("path", [p for p in API_PATHS if p not in PUBLIC_API | CALLBACKS])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_anonymous_gets_401_with_token_challenge(api, path, method):
    response = getattr(api, method)(path)
    assert response.status_code == 401, (path, method, response.status_code)
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("path", sorted(CALLBACKS))
def test_provider_callbacks_without_their_token_are_403(api, alice, path):
    assert set(API_PATHS) >= CALLBACKS
    assert api.post(path, {}, format="json").status_code == 403
    api.credentials(HTTP_AUTHORIZATION=f"Token {alice.auth_token.key}")  # a user is no provider
    assert api.post(path, {}, format="json").status_code == 403


@pytest.mark.parametrize("path", sorted(PUBLIC_API - {"/api/auth/register/", "/api/auth/token/"}))
def test_public_documentation_answers_anonymous(api, path):
    assert api.get(path).status_code == 200


def test_healthz_answers_anonymous(api):
    assert api.get("/healthz").status_code == 200


def test_bad_token_is_401(api, alice):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api.get("/api/users/me/").status_code == 401


def test_inactive_users_token_is_401_until_removed(client_for, alice):
    # Deactivation removes the tokens; a token left behind still must not work.
    client = client_for(alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = client.get("/api/users/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."
    assert response["WWW-Authenticate"] == "Token"


def test_token_authentication_is_one_query_and_loads_the_whole_user(
    client_for, alice, django_assert_num_queries
):
    from django.test.client import RequestFactory
    from rest_framework.request import Request

    from accounts.authentication import TokenAuthentication

    key = alice.auth_token.key
    http = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")
    with django_assert_num_queries(1):
        user, token = TokenAuthentication().authenticate(Request(http))
    assert (user.pk, user.username, user.email, user.is_active) == (
        alice.pk, "alice", alice.email, True,
    )  # fmt: skip
    assert user.check_password(PASSWORD)
    assert (token.key, token.user_id, token.created) == (key, alice.pk, alice.auth_token.created)
    assert token.user is user
    assert client_for(alice).get("/api/users/me/").json()["email"] == alice.email


def test_session_auth_works_and_writes_need_csrf(alice, bob):
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="alice", password=PASSWORD)
    assert browser.get("/api/users/me/").json()["username"] == "alice"
    refused = browser.post("/api/blocks/", {"user_id": bob.pk}, content_type="application/json")
    assert refused.status_code == 403
    browser.get("/api-auth/login/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/api/blocks/",
        {"user_id": bob.pk},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert accepted.status_code == 201


def test_browsable_api_renders_for_a_session_user(alice):
    browser = Client()
    browser.login(username="alice", password=PASSWORD)
    response = browser.get("/api/users/me/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"alice@example.com" in response.content
    assert response["Content-Type"].startswith("text/html")


def test_deactivation_revokes_token_and_session(client_for, alice):
    token_client = client_for(alice)
    browser = Client()
    browser.login(username="alice", password=PASSWORD)
    assert users_deactivate(actor=alice, users=[alice]) == 1
    assert token_client.get("/api/users/me/").status_code == 401
    assert browser.get("/api/users/me/").status_code in {401, 403}
    assert not Token.objects.filter(user=alice).exists()
    alice.refresh_from_db()
    assert not alice.is_active


def test_deactivating_twice_counts_once(alice):
    assert users_deactivate(actor=alice, users=[alice]) == 1
    assert users_deactivate(actor=alice, users=[alice]) == 0


def test_deactivating_more_users_than_one_batch_of_ids(alice, bob, charlie, monkeypatch):
    # An admin's "all selected" can outnumber what one statement takes (65,535
    # parameters, messaging_site.db.ID_BATCH); here batches of 2 stand for it.
    monkeypatch.setattr(db, "ID_BATCH", 2)
    absent = [get_user_model()(pk=pk) for pk in range(charlie.pk + 1, charlie.pk + 4)]
    assert users_deactivate(actor=alice, users=[*absent, alice, charlie]) == 2
    assert [u.is_active for u in get_user_model().objects.order_by("pk")] == [False, True, False]
    assert not Token.objects.filter(user__in=[alice, charlie]).exists()


def test_register_is_throttled_per_ip_with_retry_after(api, throttles):
    throttles(register="2/hour")
    codes = [
        api.post("/api/auth/register/", {"username": f"t{i}", "password": PASSWORD}).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    last = api.post("/api/auth/register/", {"username": "t9", "password": PASSWORD})
    assert int(last["Retry-After"]) > 0
    other_ip = api.post(
        "/api/auth/register/", {"username": "t8", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert other_ip.status_code == 201


def test_token_endpoint_is_throttled_per_ip(api, alice, throttles):
    throttles(token="3/min")
    codes = [
        api.post("/api/auth/token/", {"username": "alice", "password": "wrong"}).status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]


def test_writes_are_throttled_per_user_and_reads_are_not(
    client_for, alice, bob, charlie, throttles
):
    throttles(user_write="2/min")
    client = client_for(alice)
    codes = [client.post("/api/blocks/", {"user_id": bob.pk}).status_code for _ in range(3)]
    assert codes == [201, 200, 429]
    assert client.get("/api/blocks/").status_code == 200
    assert client_for(charlie).post("/api/blocks/", {"user_id": bob.pk}).status_code == 201


def test_throttles_off_never_answer_429(api, throttles, settings):
    throttles(token="1/min")
    settings.THROTTLES_ENABLED = False
    codes = {
        api.post("/api/auth/token/", {"username": "x", "password": "y"}).status_code
        for _ in range(5)
    }
    assert codes == {400}


def test_only_drf_html_pages_allow_inline_styles_and_none_allow_inline_scripts(alice):
    browser = Client()
    browser.login(username="alice", password=PASSWORD)
    html = browser.get("/api/users/me/", HTTP_ACCEPT="text/html")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in html
    assert "script-src 'self';" in html
    strict = browser.get("/api/users/me/", HTTP_ACCEPT="application/json")
    assert "unsafe-inline" not in strict["Content-Security-Policy"]
    assert "unsafe-inline" not in browser.get("/admin/")["Content-Security-Policy"]


def test_the_browsable_apis_log_out_is_a_form_that_works_under_the_csp(alice):
    browser = Client()
    browser.login(username="alice", password=PASSWORD)
    page = browser.get("/api/users/me/", HTTP_ACCEPT="text/html").content.decode()
    assert 'id="logout-form"' in page
    assert "onclick" not in page  # the CSP allows no inline handler
    response = browser.post("/api-auth/logout/?next=/api/users/me/")
    assert response.status_code == 302
    assert browser.get("/api/users/me/").status_code in {401, 403}

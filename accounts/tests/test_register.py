import pytest
from django.contrib.auth import get_user_model

from conftest import PASSWORD

User = get_user_model()
pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
TOKEN = "/api/auth/token/"


def test_register_returns_the_user_and_a_working_token(api):
    response = api.post(
        REGISTER,
        {"username": "dora", "password": PASSWORD, "email": "Dora@Example.COM", "name": "Dora"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "email", "name", "token"}
    assert body["username"] == "dora"
    assert body["email"] == "Dora@example.com"  # the domain is normalised, not the local part
    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = api.get("/api/users/me/")
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]


def test_register_with_only_username_and_password(api):
    response = api.post(REGISTER, {"username": "eve", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json()["email"] == ""
    assert response.json()["name"] == ""


def test_two_users_without_email_may_coexist(api):
    assert api.post(REGISTER, {"username": "u1", "password": PASSWORD}).status_code == 201
    assert api.post(REGISTER, {"username": "u2", "password": PASSWORD}).status_code == 201


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "ALICE", "password": PASSWORD}, "username"),
        ({"username": "newbie", "password": PASSWORD, "email": "ALICE@example.com"}, "email"),
        ({"username": "newbie", "password": "short"}, "password"),
        ({"username": "newbie", "password": "password123"}, "password"),
        ({"username": "newbie", "password": "12345678901234"}, "password"),
        ({"username": "newbie", "password": PASSWORD, "email": "not-an-email"}, "email"),
        ({"password": PASSWORD}, "username"),
        ({"username": "newbie"}, "password"),
        ({"username": "bad name!", "password": PASSWORD}, "username"),
        ({"username": "x" * 151, "password": PASSWORD}, "username"),
        ({"username": "newbie", "password": PASSWORD, "name": "n" * 101}, "name"),
    ],
    ids=[
        "username-taken-any-case",
        "email-taken-any-case",
        "password-too-short",
        "password-common",
        "password-numeric",
        "email-malformed",
        "username-missing",
        "password-missing",
        "username-bad-characters",
        "username-too-long",
        "name-too-long",
    ],
)
def test_bad_registration_is_400_with_field_errors_and_creates_nobody(api, alice, payload, field):
    before = User.objects.count()
    response = api.post(REGISTER, payload)
    assert response.status_code == 400
    assert field in response.json()
    assert isinstance(response.json()[field], list)
    assert User.objects.count() == before


def test_password_similar_to_username_is_refused(api):
    response = api.post(REGISTER, {"username": "margaretha", "password": "margaretha1"})
    assert response.status_code == 400
    assert "password" in response.json()


def test_register_ignores_privilege_fields(api):
    response = api.post(
        REGISTER,
        {"username": "sneaky", "password": PASSWORD, "is_staff": True, "is_superuser": True},
    )
    assert response.status_code == 201
    user = User.objects.get(username="sneaky")
    assert not user.is_staff
    assert not user.is_superuser


def test_token_for_right_credentials(api, alice):
    response = api.post(TOKEN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json() == {"token": alice.auth_token.key}


def test_username_is_case_insensitive_at_sign_in(api, alice):
    response = api.post(TOKEN, {"username": "Alice", "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "alice", "password": "wrong-password-here"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "alice"},
        {},
    ],
)
def test_wrong_or_missing_credentials_are_400(api, alice, payload):
    response = api.post(TOKEN, payload)
    assert response.status_code == 400


def test_deactivated_user_gets_no_token(api, alice):
    alice.is_active = False
    alice.save()
    response = api.post(TOKEN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "token" not in response.json()

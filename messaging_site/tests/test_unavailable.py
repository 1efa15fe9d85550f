"""PostgreSQL or Redis down for a moment: the answer is 503 with Retry-After, not 500, and
a bug is still a 500 (messaging_site.rest_errors.server_error). The real outage, a
PostgreSQL restarted under load, is a scenario of `make reliability`."""

import pytest
import redis
from django.db import OperationalError
from django.test import Client

from chat import listing

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(monkeypatch):
    def fail_with(error):
        def conversation_page(**kwargs):
            raise error

        monkeypatch.setattr(listing, "conversation_page", conversation_page)

    return fail_with


@pytest.fixture
def signed_in(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("connection to server at 127.0.0.1, port 5432 failed"),
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
    ],
)
def test_an_unreachable_backend_is_503_with_retry_after(failing, signed_in, error):
    failing(error)
    response = signed_in.get("/api/conversations/")
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json() == {
        "detail": "Temporarily unavailable; try again shortly.",
        "code": "unavailable",
    }
    page = signed_in.get("/")
    assert page.status_code == 503
    assert page["Retry-After"] == "2"
    assert b"Back in a moment" in page.content


def test_a_bug_is_still_a_500(failing, signed_in):
    failing(ValueError("a bug"))
    assert signed_in.get("/api/conversations/").status_code == 500
    assert signed_in.get("/").status_code == 500

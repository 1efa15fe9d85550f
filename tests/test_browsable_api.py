"""Every GET of the API renders in the browsable API (text/html) for a signed-in user,
on real rows: developers read the API there, and DRF's HTML renderer
reaches into views (filter forms, raw-data forms) that JSON clients never touch."""

import pytest
from django.test import Client

from accounts.tests.test_auth import API_PATHS
from boards.services import board_create, board_post
from chat import services
from conftest import PASSWORD

# reset_sequences: the walk fills every id in a path with 1, so every table's first row
# must have id 1.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


@pytest.fixture
def rows(django_user_model):
    alice = django_user_model.objects.create_user(
        username="alice", password=PASSWORD, is_staff=True, is_superuser=True
    )
    bob = django_user_model.objects.create_user(username="bob", password=PASSWORD)
    room = services.conversation_create(actor=alice, kind="room", name="one")
    services.message_send(sender=alice, conversation_id=room.pk, text="first")
    services.direct_message_send(sender=bob, recipient_id=alice.pk, text="hello")
    board = board_create(actor=alice, name="news")
    board_post(actor=alice, board=board, topic="t", data="x")
    return alice


@pytest.mark.parametrize("path", API_PATHS)
def test_every_api_get_renders_as_html(rows, path):
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    response = browser.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code < 500, (path, response.status_code)
    if response.status_code in (200, 201):
        assert response["Content-Type"].startswith("text/html"), path

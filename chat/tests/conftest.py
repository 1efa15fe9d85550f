import pytest
from django.db import transaction

from chat import memberships, services


@pytest.fixture
def group(alice, bob):
    """alice's group, with bob added."""
    conversation = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
    return conversation


@pytest.fixture
def room(alice, bob):
    """alice's room, bob approved."""
    conversation = services.conversation_create(actor=alice, kind="room", name="Lobby")
    memberships.membership_request(actor=bob, conversation=conversation)
    memberships.membership_approve(actor=alice, conversation=conversation, user_id=bob.pk)
    return conversation


@pytest.fixture
def send():
    def send(sender, conversation, text="hello", **kwargs):
        message, _ = services.message_send(
            sender=sender, conversation=conversation, text=text, **kwargs
        )
        return message

    return send


@pytest.fixture(params=["statement", "orm"])
def send_path(request, monkeypatch):
    """Runs a test on both send paths: PostgreSQL's pipelined statement (chat/sending.py)
    and the ORM's, which other databases (the SQLite fallback) take."""
    if request.param == "orm":

        def orm(*args):
            with transaction.atomic():
                return services._send_orm(*args)

        monkeypatch.setattr(services, "_send_postgresql", orm)
    return request.param

import pytest

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
            sender=sender, conversation_id=conversation.pk, text=text, **kwargs
        )
        return message

    return send

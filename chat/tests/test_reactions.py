"""SPEC section 12, reactions: REST, the WebSocket, counts as each reader sees them."""

import pytest
from channels.db import database_sync_to_async

from accounts.services import block_create
from chat import events, memberships, services
from chat.models import Conversation, Message, Reaction

from .test_ws import connect, expect, nothing

pytestmark = pytest.mark.django_db
call = database_sync_to_async


def reactions_url(conversation, message, emoji=None):
    base = f"/api/conversations/{conversation.pk}/messages/{message.pk}/reactions/"
    return base if emoji is None else f"{base}{emoji}/"


def history(client, conversation):
    return client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]


def test_add_again_and_remove(client_for, alice, bob, group, send):
    message = send(alice, group, "news")
    client = client_for(bob)
    first = client.post(reactions_url(group, message), {"emoji": "🎉"}, format="json")
    assert first.status_code == 201
    assert first.json()["reactions"] == [{"emoji": "🎉", "count": 1, "me": True}]
    again = client.post(reactions_url(group, message), {"emoji": "🎉"}, format="json")
    assert again.status_code == 200
    assert Reaction.objects.count() == 1
    client_for(alice).post(reactions_url(group, message), {"emoji": "👍🏽"}, format="json")
    client_for(alice).post(reactions_url(group, message), {"emoji": "🎉"}, format="json")
    assert history(client, group)[0]["reactions"] == [
        {"emoji": "🎉", "count": 2, "me": True},
        {"emoji": "👍🏽", "count": 1, "me": False},
    ]
    assert client.delete(reactions_url(group, message, "🎉")).status_code == 204
    assert client.delete(reactions_url(group, message, "🎉")).status_code == 204  # harmless
    # In the order first used among the reactions there now: alice's 🎉 came after her 👍🏽.
    assert history(client, group)[0]["reactions"] == [
        {"emoji": "👍🏽", "count": 1, "me": False},
        {"emoji": "🎉", "count": 1, "me": False},
    ]
    listed = client.get("/api/conversations/").json()["results"][0]
    assert listed["last_message"]["reactions"] == history(client, group)[0]["reactions"]


@pytest.mark.parametrize("emoji", ["a", "👍👍", "", "👍 x", "<b>", 5, None, "👍" * 40])
def test_anything_but_one_emoji_is_400(client_for, alice, bob, group, send, emoji):
    message = send(alice, group, "x")
    response = client_for(bob).post(reactions_url(group, message), {"emoji": emoji}, format="json")
    assert response.status_code == 400
    assert not Reaction.objects.exists()


@pytest.mark.parametrize("emoji", ["👨‍👩‍👧", "🇫🇷", "1️⃣", "❤️", "👍🏿"])
def test_compound_emoji_are_one(client_for, alice, bob, group, send, emoji):
    message = send(alice, group, "x")
    response = client_for(bob).post(reactions_url(group, message), {"emoji": emoji}, format="json")
    assert response.status_code == 201
    assert client_for(bob).delete(reactions_url(group, message, emoji)).status_code == 204
    assert not Reaction.objects.exists()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("❤", "❤️"), ("❤️", "❤️"), ("☺", "☺️"), ("1⃣", "1️⃣"), ("🏳\u200d🌈", "🏳️\u200d🌈")],
)
def test_an_emoji_is_kept_in_its_fully_qualified_form(
    client_for, alice, bob, group, send, sent, stored
):
    """Keyboards send the heart with or without its variation selector: one chip for both."""
    message = send(alice, group, "x")
    client_for(alice).post(reactions_url(group, message), {"emoji": stored}, format="json")
    response = client_for(bob).post(reactions_url(group, message), {"emoji": sent}, format="json")
    assert response.json()["reactions"] == [{"emoji": stored, "count": 2, "me": True}]
    assert client_for(bob).delete(reactions_url(group, message, sent)).status_code == 204
    assert list(Reaction.objects.values_list("emoji", flat=True)) == [stored]


def test_at_most_20_different_emoji_on_a_message(client_for, alice, bob, group, send):
    message = send(alice, group, "x")
    palette = [chr(0x1F600 + i) for i in range(21)]
    for emoji in palette[:20]:
        services.reaction_add(
            actor=alice, conversation_id=group.pk, message_id=message.pk, emoji=emoji
        )
    response = client_for(bob).post(
        reactions_url(group, message), {"emoji": palette[20]}, format="json"
    )
    assert response.status_code == 400
    # One already there is still fine.
    response = client_for(bob).post(
        reactions_url(group, message), {"emoji": palette[0]}, format="json"
    )
    assert response.status_code == 201
    assert Reaction.objects.count() == 21


def test_reactions_of_blocked_users_are_not_counted(client_for, alice, bob, charlie, group, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    message = send(alice, group, "x")
    for user in (bob, charlie):
        services.reaction_add(
            actor=user, conversation_id=group.pk, message_id=message.pk, emoji="👍"
        )
    services.reaction_add(
        actor=charlie, conversation_id=group.pk, message_id=message.pk, emoji="👎"
    )
    block_create(blocker=alice, blocked_id=charlie.pk)
    assert history(client_for(alice), group)[0]["reactions"] == [
        {"emoji": "👍", "count": 1, "me": False}
    ]
    listed = client_for(alice).get("/api/conversations/").json()["results"][0]
    assert listed["last_message"]["reactions"] == [{"emoji": "👍", "count": 1, "me": False}]
    assert history(client_for(bob), group)[0]["reactions"] == [
        {"emoji": "👍", "count": 2, "me": True},
        {"emoji": "👎", "count": 1, "me": False},
    ]


def test_who_may_react(client_for, alice, bob, charlie, group, room, send):
    message = send(alice, group, "x")
    other = send(alice, room, "y")
    assert (
        client_for(charlie)
        .post(reactions_url(group, message), {"emoji": "👍"}, format="json")
        .status_code
        == 404
    )
    assert (
        client_for(charlie)
        .post(reactions_url(room, other), {"emoji": "👍"}, format="json")
        .status_code
        == 403
    )
    # A message of another conversation through this one's path.
    assert (
        client_for(bob)
        .post(reactions_url(group, other), {"emoji": "👍"}, format="json")
        .status_code
        == 404
    )
    services.message_delete(actor=alice, conversation_id=group.pk, message_id=message.pk)
    assert (
        client_for(bob)
        .post(reactions_url(group, message), {"emoji": "👍"}, format="json")
        .status_code
        == 403
    )
    direct, _ = services.direct_message_send(sender=alice, recipient_id=bob.pk, text="hi")
    block_create(blocker=bob, blocked_id=alice.pk)
    url = reactions_url(direct.conversation, direct)
    assert client_for(alice).post(url, {"emoji": "👍"}, format="json").status_code == 403
    assert not Reaction.objects.exists()


# --- the WebSocket --------------------------------------------------------------------------


@pytest.fixture
def with_charlie(alice, charlie, room):
    memberships.membership_request(actor=charlie, conversation=room)
    memberships.membership_approve(actor=alice, conversation=room, user_id=charlie.pk)
    return room


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_react_and_unreact_over_the_socket(alice, bob, charlie, with_charlie):
    room = with_charlie
    message, _ = await call(services.message_send)(
        sender=alice, conversation_id=room.pk, text="vote"
    )
    reactor = await connect(bob)
    reader = await connect(alice)
    await reactor.send_json_to(
        {
            "action": "react",
            "conversationId": room.pk,
            "id": message.pk,
            "emoji": "👍",
            "requestId": 3,
        }
    )
    await expect(reactor, action="reaction", op="add", count=1, userId=bob.pk, requestId=3)
    await expect(
        reader,
        action="reaction",
        conversationId=room.pk,
        id=message.pk,
        emoji="👍",
        userId=bob.pk,
        op="add",
        count=1,
    )
    await call(services.reaction_add)(
        actor=charlie, conversation_id=room.pk, message_id=message.pk, emoji="👍"
    )
    await expect(reader, action="reaction", userId=charlie.pk, op="add", count=2)
    await expect(reactor, action="reaction", userId=charlie.pk, op="add", count=2)
    await reactor.send_json_to(
        {
            "action": "unreact",
            "conversationId": room.pk,
            "id": message.pk,
            "emoji": "👍",
            "requestId": 4,
        }
    )
    await expect(reactor, action="reaction", op="remove", count=1, requestId=4)
    await expect(reader, action="reaction", userId=bob.pk, op="remove", count=1)
    await reactor.send_json_to(
        {
            "action": "react",
            "conversationId": room.pk,
            "id": message.pk,
            "emoji": "no",
            "requestId": 5,
        }
    )
    await expect(reactor, action="error", code="invalid", requestId=5)
    for socket in (reactor, reader):
        await nothing(socket)
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("listed", [50, 0], ids=["reactors listed", "counted in the database"])
async def test_a_blocking_reader_neither_hears_nor_counts_blocked_reactors(
    alice, bob, charlie, with_charlie, monkeypatch, listed
):
    monkeypatch.setattr(events, "REACTORS_LISTED", listed)
    room = with_charlie
    message, _ = await call(services.message_send)(sender=bob, conversation_id=room.pk, text="x")
    await call(block_create)(blocker=alice, blocked_id=charlie.pk)
    reader = await connect(alice)
    await call(services.reaction_add)(
        actor=charlie, conversation_id=room.pk, message_id=message.pk, emoji="🔥"
    )
    await nothing(reader)
    await call(services.reaction_add)(
        actor=bob, conversation_id=room.pk, message_id=message.pk, emoji="🔥"
    )
    await expect(reader, action="reaction", userId=bob.pk, count=1)  # charlie's not counted
    await reader.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_reaction_never_arrives_before_its_message(alice, bob, room):
    reader = await connect(alice)
    message = await call(Message.objects.create)(conversation=room, seq=1, sender=bob, text="lost")
    await call(Conversation.objects.filter(pk=room.pk).update)(last_seq=1)
    await call(services.reaction_add)(
        actor=bob, conversation_id=room.pk, message_id=message.pk, emoji="👀"
    )
    filled = await expect(reader, action="message", id=message.pk)
    assert filled["reactions"] == [{"emoji": "👀", "count": 1, "me": False}]
    await expect(reader, action="reaction", id=message.pk, count=1)
    await reader.disconnect()

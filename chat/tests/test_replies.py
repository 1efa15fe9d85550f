"""SPEC section 12, replies: REST, the WebSocket, the conversation list, the rules."""

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import block_create
from chat import memberships, services
from chat.models import Conversation, Message

from .test_ws import connect, expect, nothing

pytestmark = pytest.mark.django_db
call = database_sync_to_async


def messages_url(conversation):
    return f"/api/conversations/{conversation.pk}/messages/"


def test_a_reply_carries_an_excerpt_of_the_message_it_answers(client_for, alice, bob, group, send):
    parent = send(alice, group, "x" * 250)
    response = client_for(bob).post(
        messages_url(group), {"text": "agreed", "reply_to": parent.pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["reply_to"] == {
        "id": parent.pk,
        "seq": parent.seq,
        "sender_username": "alice",
        "excerpt": "x" * 200,
    }
    page = client_for(alice).get(messages_url(group)).json()["results"]
    assert page[0]["reply_to"] is None
    assert page[1]["reply_to"]["excerpt"] == "x" * 200
    listed = client_for(alice).get("/api/conversations/").json()["results"][0]
    assert listed["last_message"]["reply_to"] == page[1]["reply_to"]
    assert Message.objects.get(pk=response.json()["id"]).reply_to_id == parent.pk


@pytest.mark.parametrize("bad", ["other conversation", "missing", "not a number", "zero"])
def test_a_reply_to_anything_but_a_message_of_this_conversation_is_400(
    client_for, alice, bob, group, room, send, bad
):
    elsewhere = send(alice, room, "in the room")
    value = {
        "other conversation": elsewhere.pk,
        "missing": 999_999_999,
        "not a number": "abc",
        "zero": 0,
    }[bad]
    response = client_for(bob).post(
        messages_url(group), {"text": "hi", "reply_to": value}, format="json"
    )
    assert response.status_code == 400
    assert "reply_to" in response.json()
    assert Conversation.objects.get(pk=group.pk).last_seq == 0  # nothing written
    assert not Message.objects.filter(conversation=group).exists()


def test_a_stranger_learns_nothing_from_a_reply_id(client_for, alice, charlie, group, send):
    parent = send(alice, group, "private")
    response = client_for(charlie).post(
        messages_url(group), {"text": "hi", "reply_to": parent.pk}, format="json"
    )
    assert response.status_code == 404


def test_the_excerpt_is_empty_for_a_deleted_message_or_a_blocked_sender(
    client_for, alice, bob, charlie, group, send
):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    gone = send(charlie, group, "regrettable")
    services.message_delete(actor=charlie, conversation_id=group.pk, message_id=gone.pk)
    send(bob, group, "re: deleted", reply_to=gone.pk)
    blocked = send(charlie, group, "from charlie")
    send(bob, group, "re: charlie", reply_to=blocked.pk)
    block_create(blocker=alice, blocked_id=charlie.pk)
    page = client_for(alice).get(messages_url(group)).json()["results"]
    replies = [m["reply_to"] for m in page if m["reply_to"]]
    assert [r["excerpt"] for r in replies] == ["", ""]
    assert [r["sender_username"] for r in replies] == ["charlie", "charlie"]
    # bob blocks nobody: he sees charlie's live message quoted.
    page = client_for(bob).get(messages_url(group)).json()["results"]
    assert [m["reply_to"]["excerpt"] for m in page if m["reply_to"]] == ["", "from charlie"]
    listed = client_for(alice).get("/api/conversations/").json()["results"][0]
    assert listed["last_message"]["reply_to"]["excerpt"] == ""


def test_a_retry_returns_the_first_message_with_its_reply(alice, group, send):
    parent = send(alice, group, "question")
    services.message_send(
        sender=alice, conversation_id=group.pk, text="a", client_id="r1", reply_to=parent.pk
    )
    again, created = services.message_send(
        sender=alice, conversation_id=group.pk, text="a", client_id="r1"
    )
    assert created is False
    assert again.reply_to is not None
    assert again.reply_to.pk == parent.pk


def test_a_history_page_with_replies_and_reactions_costs_the_same_queries(
    client_for, alice, bob, group, send
):
    client = client_for(bob)
    parent = send(alice, group, "root")
    for i in range(2):
        reply = send(alice, group, f"r{i}", reply_to=parent.pk)
        services.reaction_add(actor=bob, conversation_id=group.pk, message_id=reply.pk, emoji="👍")
    with CaptureQueriesContext(connection) as small:
        assert len(client.get(messages_url(group)).json()["results"]) == 3
    for i in range(60):
        more = send(alice, group, f"more{i}", reply_to=parent.pk if i % 2 else None)
        for emoji in ["👍", "🎉"][: i % 3]:
            services.reaction_add(
                actor=alice, conversation_id=group.pk, message_id=more.pk, emoji=emoji
            )
    with CaptureQueriesContext(connection) as large:
        assert len(client.get(messages_url(group)).json()["results"]) == 50
    assert len(large.captured_queries) == len(small.captured_queries) == 3


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_replies_over_the_socket_and_a_blocking_reader(alice, bob, charlie, room):
    await call(memberships.membership_request)(actor=charlie, conversation=room)
    await call(memberships.membership_approve)(actor=alice, conversation=room, user_id=charlie.pk)
    parent, _ = await call(services.message_send)(
        sender=charlie, conversation_id=room.pk, text="charlie says"
    )
    await call(block_create)(blocker=alice, blocked_id=charlie.pk)
    writer = await connect(bob)
    blocking = await connect(alice)
    await writer.send_json_to(
        {
            "action": "sendMessage",
            "conversationId": room.pk,
            "message": "replying",
            "replyTo": parent.pk,
            "clientId": "w1",
            "requestId": 1,
        }
    )
    await expect(writer, action="ack", requestId=1)
    frame = await expect(blocking, action="message", message="replying")
    assert frame["replyTo"] == {
        "id": parent.pk,
        "seq": parent.seq,
        "sender_username": "charlie",
        "excerpt": "",
    }
    await blocking.send_json_to(
        {"action": "sync", "conversationId": room.pk, "afterSeq": 0, "requestId": 2}
    )
    history = await expect(blocking, action="history", requestId=2)
    assert [m["replyTo"] for m in history["messages"]] == [frame["replyTo"]]  # charlie's own hidden
    reader = await connect(charlie)
    await writer.send_json_to(
        {"action": "sendMessage", "conversationId": room.pk, "message": "x", "replyTo": "nope"}
    )
    await expect(writer, action="error", code="invalid")
    await nothing(reader)
    for socket in (writer, blocking, reader):
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_reply_filled_from_the_database_hides_what_the_reader_blocks(
    alice, bob, charlie, room
):
    await call(memberships.membership_request)(actor=charlie, conversation=room)
    await call(memberships.membership_approve)(actor=alice, conversation=room, user_id=charlie.pk)
    parent, _ = await call(services.message_send)(sender=charlie, conversation_id=room.pk, text="c")
    await call(block_create)(blocker=alice, blocked_id=charlie.pk)
    reader = await connect(alice)
    # The reply's own event is lost; the next message's event makes the socket fill it.
    await call(Message.objects.create)(
        conversation=room, seq=2, sender=bob, text="lost reply", reply_to=parent
    )
    await call(Conversation.objects.filter(pk=room.pk).update)(last_seq=2)
    await call(services.message_send)(sender=bob, conversation_id=room.pk, text="next")
    filled = await expect(reader, action="message", seq=2)
    assert filled["replyTo"]["excerpt"] == ""
    await expect(reader, action="message", seq=3)
    await reader.disconnect()

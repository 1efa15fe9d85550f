"""SPEC section 13, typing: who hears it, how often, that a socket behind drops it, and
that nothing is stored."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from accounts.services import block_create
from chat import memberships, relay
from chat.models import Message

from .test_ws import connect, expect, nothing

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
call = database_sync_to_async


@pytest.fixture
def with_charlie(room, alice, charlie):
    memberships.membership_request(actor=charlie, conversation=room)
    memberships.membership_approve(actor=alice, conversation=room, user_id=charlie.pk)
    return room


async def test_the_other_members_hear_it_not_the_typist_nor_who_blocks_them(
    alice, bob, charlie, with_charlie
):
    room = with_charlie
    await call(block_create)(blocker=charlie, blocked_id=alice.pk)
    typist, other_tab = await connect(alice), await connect(alice)
    listener, blocking = await connect(bob), await connect(charlie)
    stored = await call(Message.objects.count)()
    await typist.send_json_to({"action": "typing", "conversationId": room.pk})
    await expect(
        listener, action="typing", conversationId=room.pk, userId=alice.pk, username="alice"
    )
    for socket in (typist, other_tab, blocking):
        await nothing(socket)
    assert await call(Message.objects.count)() == stored
    # The other way round: charlie is blocked by no one.
    await blocking.send_json_to({"action": "typing", "conversationId": room.pk})
    await expect(listener, action="typing", userId=charlie.pk)
    await expect(typist, action="typing", userId=charlie.pk)
    for socket in (typist, other_tab, listener, blocking):
        await socket.disconnect()


async def test_at_most_one_per_socket_per_conversation_every_two_seconds(
    alice, bob, room, monkeypatch
):
    typist, listener = await connect(alice), await connect(bob)
    for _ in range(5):
        await typist.send_json_to({"action": "typing", "conversationId": room.pk})
    await expect(listener, action="typing", userId=alice.pk)
    await nothing(listener)
    monkeypatch.setattr(relay, "TYPING_EVERY_SECONDS", 0.2)
    await asyncio.sleep(0.25)
    await typist.send_json_to({"action": "typing", "conversationId": room.pk})
    await expect(listener, action="typing", userId=alice.pk)
    await typist.disconnect()
    await listener.disconnect()


async def test_a_socket_behind_drops_typing(alice, bob, room, monkeypatch):
    typist, listener = await connect(alice), await connect(bob)
    monkeypatch.setattr(relay, "TYPING_STALE_SECONDS", -1.0)  # every frame arrives late
    await typist.send_json_to({"action": "typing", "conversationId": room.pk})
    await nothing(listener)
    await typist.disconnect()
    await listener.disconnect()


@pytest.mark.parametrize(
    ("conversation", "code"), [("stranger", "not_found"), (0, "invalid"), ("x", "invalid")]
)
async def test_only_in_a_conversation_one_reads(alice, charlie, room, conversation, code):
    socket = await connect(charlie)
    target = room.pk if conversation == "stranger" else conversation
    await socket.send_json_to({"action": "typing", "conversationId": target, "requestId": 7})
    await expect(socket, action="error", code=code, requestId=7)
    await socket.disconnect()

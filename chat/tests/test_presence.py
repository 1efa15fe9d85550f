"""SPEC section 13, presence: states and their announcements, blocks, several tabs, the
REST reads, and the cost of coming online."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from accounts.services import block_create
from chat import memberships, presence, services
from messaging_site import redis_client

from .test_ws import connect, expect, nothing

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
call = database_sync_to_async


@pytest.fixture
def quick_offline(settings):
    settings.PRESENCE_OFFLINE_SECONDS = 0.3


@pytest.fixture
def shared_twice(alice, bob, group, room):
    """alice and bob share a group and a room."""
    return group, room


async def no_presence_of(socket, user):
    while not await socket.receive_nothing(timeout=0.3):
        frame = await socket.receive_json_from(timeout=1)
        assert frame.get("userId") != user.pk, frame


async def presence_of(socket, user, status):
    frame = await expect(socket, action="presence", userId=user.pk, status=status)
    assert isinstance(frame["lastSeen"], int)
    return frame


async def test_active_idle_offline_each_announced_once(alice, bob, shared_twice, quick_offline):
    watcher = await connect(bob)
    socket = await connect(alice)
    await presence_of(watcher, alice, "active")
    await nothing(watcher, presence_too=True)  # once, though they share two conversations
    await socket.send_json_to({"action": "presence", "status": "idle"})
    await presence_of(watcher, alice, "idle")
    await socket.send_json_to({"action": "presence", "status": "active"})
    await presence_of(watcher, alice, "active")
    await socket.send_json_to({"action": "presence", "status": "active"})
    await nothing(watcher, presence_too=True)  # no change, no news
    await socket.disconnect()
    await nothing(watcher, presence_too=True)  # the grace after the last socket closes
    await asyncio.sleep(0.6)
    await presence_of(watcher, alice, "offline")
    await watcher.disconnect()


async def test_one_tab_closing_is_no_news_while_another_is_open(
    alice, bob, shared_twice, quick_offline
):
    watcher = await connect(bob)
    first, second = await connect(alice), await connect(alice)
    await presence_of(watcher, alice, "active")
    await second.send_json_to({"action": "presence", "status": "idle"})
    await nothing(watcher, presence_too=True)  # the first tab is still active
    await first.disconnect()
    await presence_of(watcher, alice, "idle")  # the tab left is idle
    await asyncio.sleep(0.6)
    await nothing(watcher, presence_too=True)
    await second.disconnect()
    await asyncio.sleep(0.6)
    await presence_of(watcher, alice, "offline")
    await watcher.disconnect()


async def test_hidden_from_users_one_blocks(alice, bob, charlie, room, client_for):
    await call(memberships.membership_request)(actor=charlie, conversation=room)
    await call(memberships.membership_approve)(actor=alice, conversation=room, user_id=charlie.pk)
    await call(block_create)(blocker=alice, blocked_id=bob.pk)
    blocked, other = await connect(bob), await connect(charlie)
    socket = await connect(alice)
    await presence_of(other, alice, "active")
    await no_presence_of(blocked, alice)
    body = (await call(client_for(bob).get)(f"/api/presence/?user_ids={alice.pk}")).json()
    assert body == [{"user_id": alice.pk, "status": "offline", "last_seen": None}]
    for s in (blocked, other, socket):
        await s.disconnect()


async def test_invalid_reports_are_refused(alice):
    socket = await connect(alice)
    for status in ["away", None, 1]:
        await socket.send_json_to({"action": "presence", "status": status, "requestId": 3})
        await expect(socket, action="error", code="invalid", requestId=3)
    await socket.disconnect()


async def test_coming_online_costs_one_publish_per_conversation(alice, bob, make_user, monkeypatch):
    conversations = []
    for i in range(4):
        conversation = await call(services.conversation_create)(
            actor=alice, kind="group", name=f"g{i}"
        )
        for j in range(5):  # 20 contacts in all
            contact = await call(make_user)(f"c{i}x{j}")
            await call(memberships.membership_add)(
                actor=alice, conversation=conversation, user_id=contact.pk
            )
        conversations.append(conversation.pk)
    layer = get_channel_layer()
    sent = []
    real = layer.group_send

    async def counting(group, message):
        if message["type"] == "chat.presence":
            sent.append(group)
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    socket = await connect(alice)
    assert sorted(sent) == sorted(f"conv.{c}" for c in conversations)
    await socket.disconnect()


async def test_a_socket_gone_with_its_process_is_swept_offline(alice, bob, shared_twice):
    """A process killed with alice's socket on it: no close, no more heartbeats. Beat's
    sweep finds her entry stale and announces her offline."""
    watcher = await connect(bob)
    await call(presence.apply)(alice.pk, "open", "socket-on-a-dead-process")
    assert await call(presence.sweep)() == 0  # still heartbeating, as far as anyone knows
    client = redis_client.client()
    stale = time.time() - presence.SOCKET_SECONDS - 1
    client.hset(
        redis_client.key("presence", "sockets", alice.pk),
        "socket-on-a-dead-process",
        f"{stale} {stale}",
    )
    assert await call(presence.sweep)() == 1
    await presence_of(watcher, alice, "offline")
    assert await call(presence.sweep)() == 0  # announced once
    await watcher.disconnect()


async def test_open_sockets_heartbeat_and_stay_present(alice, bob, shared_twice, monkeypatch):
    """Every open socket's entry is renewed by its process's one heartbeat loop: with
    entries that age out in half a second, a second later she is still there."""
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(presence, "SOCKET_SECONDS", 0.5)
    watcher, socket = await connect(bob), await connect(alice)
    await presence_of(watcher, alice, "active")
    await asyncio.sleep(1.0)
    assert await call(presence.sweep)() == 0
    assert (await call(presence.read)([alice.pk]))[alice.pk].status == "active"
    await socket.disconnect()
    await watcher.disconnect()

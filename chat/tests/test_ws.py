"""The chat WebSocket protocol through the real ASGI stack and Redis channel layer."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import block_create
from chat import memberships, services, uploads
from chat.events import conversation_group
from chat.models import Membership, Message
from messaging_site.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
call = database_sync_to_async


async def connect(user):
    socket = WebsocketCommunicator(application, f"/ws/?token={user.auth_token.key}")
    connected, _ = await socket.connect()
    assert connected
    return socket


async def expect(socket, **fields):
    """The socket's next frame, which has these fields. Presence frames (other members
    coming and going while a test runs) are passed over unless one is expected."""
    while True:
        frame = await socket.receive_json_from(timeout=3)
        if frame.get("action") != "presence" or fields.get("action") == "presence":
            break
    for key, value in fields.items():
        assert frame.get(key) == value, (key, frame)
    return frame


async def nothing(socket, *, presence_too=False):
    """No frame comes within 0.3 s (presence frames aside, unless `presence_too`)."""
    while not await socket.receive_nothing(timeout=0.3):
        frame = await socket.receive_json_from(timeout=1)
        assert not presence_too, ("unexpected", frame)
        assert frame.get("action") == "presence", ("unexpected", frame)


async def test_create_room(alice):
    socket = await connect(alice)
    await socket.send_json_to({"action": "createRoom", "roomName": "Chess", "requestId": 1})
    created = await expect(socket, action="roomCreated", roomName="Chess", requestId=1)
    membership = await expect(socket, action="membership", status="approved", role="admin")
    assert membership["conversationId"] == created["roomId"]
    await socket.disconnect()


async def test_join_request_approve_flow(alice, charlie, room):
    admin = await connect(alice)
    applicant = await connect(charlie)
    await applicant.send_json_to({"action": "joinRoom", "subAction": "request", "roomId": room.pk})
    await expect(applicant, action="joinResponse", roomId=room.pk, status="pending")
    await expect(admin, action="joinRequest", userId=charlie.pk, username="charlie", roomId=room.pk)
    await admin.send_json_to(
        {
            "action": "joinRoom",
            "subAction": "approve",
            "roomId": room.pk,
            "targetUserId": charlie.pk,
        }
    )
    await expect(applicant, action="joinResponse", roomId=room.pk, status="approved")
    await expect(applicant, action="membership", userId=charlie.pk, status="approved")
    await expect(admin, action="membership", userId=charlie.pk, status="approved")
    # Now a member: the next message reaches him.
    await admin.send_json_to(
        {"action": "sendMessage", "roomId": room.pk, "message": "hi", "clientId": "a1"}
    )
    await expect(admin, action="ack", clientId="a1", seq=1)
    await expect(
        applicant,
        action="message",
        seq=1,
        message="hi",
        roomId=room.pk,
        kind="room",
        userId=alice.pk,
        username="alice",
        clientId="a1",
    )
    for socket in (admin, applicant):
        await socket.disconnect()


async def test_reject_by_username_as_the_group_chat_design_sent_it(alice, charlie, room):
    admin = await connect(alice)
    applicant = await connect(charlie)
    await call(memberships.membership_request)(actor=charlie, conversation=room)
    await expect(applicant, action="joinResponse", status="pending")
    await expect(admin, action="joinRequest")
    await admin.send_json_to(
        {"action": "joinRoom", "subAction": "reject", "roomId": room.pk, "targetUserId": "charlie"}
    )
    await expect(applicant, action="joinResponse", status="rejected")
    for socket in (admin, applicant):
        await socket.disconnect()


async def test_non_admin_cannot_approve_or_list_a_room_he_is_not_in(alice, bob, charlie, room):
    stranger = await connect(charlie)
    await stranger.send_json_to(
        {
            "action": "joinRoom",
            "subAction": "approve",
            "roomId": room.pk,
            "targetUserId": bob.pk,
            "requestId": "x",
        }
    )
    await expect(stranger, action="error", code="forbidden", requestId="x")
    await stranger.send_json_to({"action": "getMembers", "roomId": room.pk})
    await expect(stranger, action="error", code="forbidden")
    await stranger.send_json_to({"action": "sendMessage", "roomId": room.pk, "message": "x"})
    await expect(stranger, action="error", code="forbidden")
    await stranger.disconnect()


async def test_stranger_gets_no_frame_of_a_conversation_he_is_not_in(alice, bob, charlie, room):
    stranger = await connect(charlie)
    member = await connect(bob)
    await call(services.message_send)(sender=alice, conversation_id=room.pk, text="members only")
    await expect(member, action="message", message="members only")
    await nothing(stranger)
    for socket in (stranger, member):
        await socket.disconnect()


async def test_ack_retry_and_other_tabs(alice, bob, room):
    tab1 = await connect(alice)
    tab2 = await connect(alice)
    other = await connect(bob)
    frame = {
        "action": "sendMessage",
        "conversationId": room.pk,
        "message": "once",
        "clientId": "c-9",
    }
    await tab1.send_json_to(frame)
    ack = await expect(tab1, action="ack", clientId="c-9", conversationId=room.pk, seq=1)
    await expect(tab2, action="message", seq=1, message="once")
    await expect(other, action="message", seq=1)
    await tab1.send_json_to(frame)
    again = await expect(tab1, action="ack", clientId="c-9")
    assert (again["id"], again["seq"]) == (ack["id"], ack["seq"])
    await nothing(tab2)
    await nothing(other)
    assert await call(Message.objects.count)() == 1
    await nothing(tab1)  # the sender socket never gets its own message as a frame
    for socket in (tab1, tab2, other):
        await socket.disconnect()


async def test_enter_room_then_send_without_an_id(alice, bob, room):
    sender = await connect(alice)
    listener = await connect(bob)
    await sender.send_json_to({"action": "sendMessage", "message": "nowhere"})
    await expect(sender, action="error", code="invalid")
    await sender.send_json_to({"action": "enterRoom", "roomId": room.pk})
    await sender.send_json_to({"action": "sendMessage", "message": "here"})
    await expect(sender, action="ack", seq=1)
    await expect(listener, action="message", message="here")
    for socket in (sender, listener):
        await socket.disconnect()


async def test_direct_messages_first_contact_and_blocking(alice, bob):
    sender = await connect(alice)
    recipient = await connect(bob)
    await sender.send_json_to(
        {"action": "sendDirect", "to": bob.pk, "message": "hi bob", "clientId": "d1"}
    )
    ack = await expect(sender, action="ack", clientId="d1", seq=1)
    await expect(
        sender,
        action="membership",
        conversationId=ack["conversationId"],
        userId=alice.pk,
        status="approved",
    )
    # The recipient's socket learns of the new conversation and gets the first message.
    frames = [await recipient.receive_json_from(timeout=3) for _ in range(2)]
    assert [f["action"] for f in frames] == ["membership", "message"]
    assert frames[1]["conversationId"] == ack["conversationId"]
    assert frames[1]["kind"] == "direct"
    await call(block_create)(blocker=bob, blocked_id=alice.pk)
    await sender.send_json_to({"action": "sendDirect", "to": bob.pk, "message": "again"})
    await expect(sender, action="error", code="blocked")
    await nothing(recipient)
    for socket in (sender, recipient):
        await socket.disconnect()


async def test_blocked_sender_is_not_pushed_in_rooms(alice, bob, charlie, room):
    await call(memberships.membership_add)(actor=alice, conversation=room, user_id=charlie.pk)
    reader = await connect(bob)
    await call(block_create)(blocker=bob, blocked_id=charlie.pk)
    await call(services.message_send)(sender=charlie, conversation_id=room.pk, text="hidden")
    await call(services.message_send)(sender=alice, conversation_id=room.pk, text="visible")
    await expect(reader, action="message", message="visible", seq=2)
    await nothing(reader)
    await reader.disconnect()


async def test_receipts_for_delivered_and_read(alice, bob, room):
    writer = await connect(alice)
    reader = await connect(bob)
    await writer.send_json_to({"action": "sendMessage", "roomId": room.pk, "message": "m"})
    await expect(writer, action="ack", seq=1)
    await expect(reader, action="message", seq=1)
    await reader.send_json_to({"action": "delivered", "conversationId": room.pk, "seq": 1})
    await expect(
        writer, action="receipt", conversationId=room.pk, userId=bob.pk, status="delivered", seq=1
    )
    await reader.send_json_to({"action": "read", "conversationId": room.pk, "seq": 1})
    await expect(writer, action="receipt", status="read", seq=1)
    await reader.send_json_to({"action": "read", "conversationId": room.pk, "seq": 0})
    await nothing(writer)  # never backwards, so no receipt
    await nothing(reader)  # the reader's own receipts are not echoed
    for socket in (writer, reader):
        await socket.disconnect()


async def test_sync_returns_history_pages(alice, bob, room):
    for i in range(5):
        await call(services.message_send)(sender=alice, conversation_id=room.pk, text=f"m{i}")
    socket = await connect(bob)
    await socket.send_json_to(
        {"action": "sync", "conversationId": room.pk, "afterSeq": 2, "limit": 2, "requestId": "s"}
    )
    page = await expect(
        socket, action="history", conversationId=room.pk, hasMore=True, requestId="s"
    )
    assert [m["seq"] for m in page["messages"]] == [3, 4]
    assert page["messages"][0]["action"] == "message"
    await socket.send_json_to({"action": "sync", "conversationId": room.pk, "afterSeq": 4})
    assert [m["seq"] for m in (await expect(socket, hasMore=False))["messages"]] == [5]
    await socket.disconnect()


async def test_get_members(alice, bob, charlie, room):
    await call(memberships.membership_request)(actor=charlie, conversation=room)
    admin = await connect(alice)
    await admin.send_json_to({"action": "getMembers", "roomId": room.pk})
    reply = await expect(admin, action="roomMembers", roomId=room.pk, roomName="Lobby")
    me, *others = reply["participants"]
    assert isinstance(me.pop("lastSeen"), int)  # her socket is open: active, seen now
    assert me == {
        "userId": alice.pk, "username": "alice", "status": "approved", "isAdmin": True,
        "presence": "active",
    }  # fmt: skip
    assert others == [
        {"userId": bob.pk, "username": "bob", "status": "approved", "isAdmin": False,
         "presence": "offline", "lastSeen": None},
        {"userId": charlie.pk, "username": "charlie", "status": "pending", "isAdmin": False,
         "presence": "offline", "lastSeen": None},
    ]  # fmt: skip
    # Someone online who blocks her is offline to her.
    other = await connect(bob)
    await admin.send_json_to({"action": "getMembers", "roomId": room.pk})
    reply = await expect(admin, action="roomMembers")
    assert reply["participants"][1]["presence"] == "active"
    await call(block_create)(blocker=bob, blocked_id=alice.pk)
    await admin.send_json_to({"action": "getMembers", "roomId": room.pk})
    reply = await expect(admin, action="roomMembers")
    assert reply["participants"][1]["presence"] == "offline"
    await admin.disconnect()
    await other.disconnect()


async def test_removed_member_gets_no_later_message_on_any_socket(alice, bob, room):
    tab1 = await connect(bob)
    tab2 = await connect(bob)
    await call(services.message_send)(sender=alice, conversation_id=room.pk, text="before")
    for tab in (tab1, tab2):
        await expect(tab, action="message", message="before")
    await call(memberships.membership_remove)(actor=alice, conversation=room, user_id=bob.pk)
    for tab in (tab1, tab2):
        await expect(tab, action="membership", userId=bob.pk, status="removed")
    for i in range(3):
        await call(services.message_send)(sender=alice, conversation_id=room.pk, text=f"after{i}")
    await nothing(tab1)
    await nothing(tab2)
    for tab in (tab1, tab2):
        await tab.disconnect()


async def test_message_deleted_frame(alice, bob, room):
    message, _ = await call(services.message_send)(sender=bob, conversation_id=room.pk, text="oops")
    reader = await connect(alice)
    await call(services.message_tombstone)(actor=alice, message=message)
    await expect(reader, action="messageDeleted", conversationId=room.pk, id=message.pk, seq=1)
    await reader.disconnect()


async def test_lost_events_are_filled_from_the_database_in_order(alice, bob, room):
    reader = await connect(bob)
    layer = get_channel_layer()
    # Three messages whose events are lost (sent outside any socket's knowledge)...
    for i in range(3):
        await call(Message.objects.create)(
            conversation=room, seq=i + 1, sender=alice, text=f"lost{i}"
        )
    await call(type(room).objects.filter(pk=room.pk).update)(last_seq=3)
    # ...then the fourth arrives through the layer: the socket fills 1..3 first.
    await call(services.message_send)(sender=alice, conversation_id=room.pk, text="m4")
    seqs = [(await expect(reader, action="message"))["seq"] for _ in range(4)]
    assert seqs == [1, 2, 3, 4]
    # A late duplicate of an old event changes nothing.
    await layer.group_send(
        conversation_group(room.pk),
        {
            "type": "chat.message",
            "conversation": room.pk,
            "seq": 2,
            "sender": alice.pk,
            "origin": None,
            "text": "{}",
        },
    )
    await nothing(reader)
    await reader.disconnect()


@pytest.mark.parametrize("backend", ["core", "pubsub"])
async def test_group_membership_is_refreshed_before_it_expires(alice, bob, room, settings, backend):
    """Group expiry at 2 s (RedisChannelLayer; pub/sub has none), a socket held open for
    5 s: it still receives."""
    from channels.layers import channel_layers

    config = {"hosts": settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][:1],
              "prefix": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]}  # fmt: skip
    if backend == "core":
        config["group_expiry"] = 2
    settings.CHANNEL_LAYER = backend
    settings.CHANNEL_GROUP_EXPIRY = 2
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer"
            if backend == "core"
            else "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": config,
        }
    }
    channel_layers.backends.clear()
    reader = await connect(bob)
    await asyncio.sleep(5)
    await call(services.message_send)(sender=alice, conversation_id=room.pk, text="still here")
    await expect(reader, action="message", message="still here")
    await reader.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"action": "sendMessage", "roomId": "x", "message": "m"}, "invalid"),
        ({"action": "sendMessage", "roomId": 1, "message": 5}, "invalid"),
        ({"action": "sendMessage", "roomId": 999999, "message": "m"}, "not_found"),
        ({"action": "sendMessage", "conversationId": 999999, "message": "m"}, "not_found"),
        ({"action": "sendDirect", "to": 999999, "message": "m"}, "not_found"),
        ({"action": "joinRoom", "subAction": "dance", "roomId": 1}, "not_found"),
        ({"action": "joinRoom", "roomId": True}, "invalid"),
        ({"action": "sync", "conversationId": 1, "afterSeq": -1}, "invalid"),
        ({"action": "read", "conversationId": 1, "seq": "x"}, "not_found"),
        ({"action": "getMembers"}, "invalid"),
        ({"action": "createRoom", "roomName": ""}, "invalid"),
        ({"action": "createRoom"}, "invalid"),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_bad_frames_get_error_frames_and_write_nothing(alice, frame, code):
    socket = await connect(alice)
    await socket.send_json_to({**frame, "requestId": "r"})
    await expect(socket, action="error", code=code, requestId="r")
    await socket.send_json_to({"action": "nope"})
    await expect(socket, code="unknown_action")  # still open
    assert await call(Message.objects.count)() == 0
    await socket.disconnect()


async def test_per_connection_send_throttle(alice, room, settings):
    settings.THROTTLES_ENABLED = True
    settings.WS_SEND_RATE = 1
    settings.WS_SEND_BURST = 3
    socket = await connect(alice)
    for i in range(4):
        await socket.send_json_to({"action": "sendMessage", "roomId": room.pk, "message": f"m{i}"})
    codes = [(await socket.receive_json_from(timeout=3))["action"] for _ in range(4)]
    assert codes[:3] == ["ack", "ack", "ack"]
    assert codes[3] == "error"
    assert await call(Message.objects.count)() == 3
    await socket.disconnect()


async def test_membership_frames_reach_members_and_the_user_concerned(alice, bob, charlie, room):
    admin = await connect(alice)
    target = await connect(charlie)
    await call(memberships.membership_add)(actor=alice, conversation=room, user_id=charlie.pk)
    await expect(admin, action="membership", userId=charlie.pk, status="approved", role="member")
    await expect(target, action="membership", userId=charlie.pk, status="approved")
    await call(memberships.membership_set_role)(
        actor=alice, conversation=room, user_id=charlie.pk, role="admin"
    )
    await expect(admin, action="membership", role="admin")
    await expect(target, action="membership", role="admin")
    await call(memberships.membership_ban)(actor=alice, conversation=room, user_id=charlie.pk)
    await expect(admin, action="membership", status="banned")
    await expect(target, action="membership", status="banned")
    assert (await call(Membership.objects.get)(conversation=room, user=charlie)).status == "banned"
    for socket in (admin, target):
        await socket.disconnect()


@pytest.mark.parametrize("mode", ["drop", "delay"])
async def test_dropped_or_late_events_still_arrive_in_order(alice, bob, room, settings, mode):
    settings.WS_FAULT_EVERY = 3
    settings.WS_FAULT_MODE = mode
    settings.WS_FAULT_DELAY_MS = 200
    reader = await connect(bob)
    for i in range(10):
        await call(services.message_send)(sender=alice, conversation_id=room.pk, text=f"m{i}")
    seqs = [(await expect(reader, action="message"))["seq"] for _ in range(10)]
    assert seqs == list(range(1, 11))
    await asyncio.sleep(0.3)  # the late copies arrive, and are dropped as duplicates
    await nothing(reader)
    await reader.disconnect()


async def test_a_history_page_stays_under_the_frame_limit(alice, bob, room):
    for i in range(80):
        await call(services.message_send)(
            sender=alice, conversation_id=room.pk, text=f"{i}" + "é" * 9990
        )
    socket = await connect(bob)
    await socket.send_json_to(
        {"action": "sync", "conversationId": room.pk, "afterSeq": 0, "limit": 200}
    )
    output = await socket.receive_output(timeout=5)
    assert len(output["text"].encode()) < 1024 * 1024  # Daphne drops bigger frames
    page = json.loads(output["text"])
    assert page["hasMore"] is True
    assert [m["seq"] for m in page["messages"]] == list(range(1, len(page["messages"]) + 1))
    await socket.disconnect()


async def test_a_message_with_attachments_reaches_everyone_with_them(alice, bob, room):
    file = await call(uploads.upload_create)(
        uploader=alice, file=SimpleUploadedFile("notes.txt", b"the notes")
    )
    sender = await connect(alice)
    other = await connect(bob)
    await sender.send_json_to(
        {"action": "sendMessage", "conversationId": room.pk, "message": "", "clientId": "f1",
         "attachments": [file.pk], "requestId": 7}
    )  # fmt: skip
    shape = uploads.attachment_shape(file)
    ack = await expect(sender, action="ack", clientId="f1", requestId=7)
    assert ack["attachments"] == [shape]
    frame = await expect(other, action="message", seq=1, message="")
    assert frame["attachments"] == [shape]
    # Not one's own, or taken already: `invalid`, nothing sent.
    await sender.send_json_to(
        {"action": "sendMessage", "conversationId": room.pk, "message": "again",
         "attachments": [file.pk], "requestId": 8}
    )  # fmt: skip
    error = await expect(sender, action="error", code="invalid", requestId=8)
    assert "attachments" in error["message"]
    await nothing(other)
    for socket in (sender, other):
        await socket.disconnect()


async def test_a_retried_send_reaches_members_the_first_one_never_told(
    alice, bob, group, monkeypatch
):
    """The server that stored a send died before it published it (nothing went out): the
    sender's retry, with the same clientId, is answered with the stored message and
    publishes it again, so the members' open sockets get it now rather than with the
    next message. Sockets that had it already drop it by its seq."""
    member = await connect(bob)
    with monkeypatch.context() as patched:
        patched.setattr("chat.events.publish_on_commit", lambda events, **kwargs: None)
        first, created = await call(services.message_send)(
            sender=alice, conversation_id=group.pk, text="stored, never told", client_id="r1"
        )
    assert created
    await nothing(member)
    again, created = await call(services.message_send)(
        sender=alice, conversation_id=group.pk, text="stored, never told", client_id="r1"
    )
    assert (again.pk, created) == (first.pk, False)
    await expect(member, action="message", conversationId=group.pk, seq=first.seq)
    # Once more: the member has it, and gets nothing twice.
    await call(services.message_send)(
        sender=alice, conversation_id=group.pk, text="stored, never told", client_id="r1"
    )
    await nothing(member)
    await member.disconnect()

"""The chat side of the WebSocket protocol (docs/PROTOCOL.md, "Rooms" and "Messages"):
the client actions. Each one parses its frame, calls the chat services, and answers;
what reaches other sockets goes through the services' events and chat/relay.py.
"""

from __future__ import annotations

import logging
import time

from accounts import selectors as accounts
from messaging_site.consumers import Consumer, Frame, positive_int
from messaging_site.db import db_call
from messaging_site.errors import Invalid, NotFound

from . import events, memberships, presence, relay, selectors, services
from .models import Conversation, Membership
from .relay import ChatState

logger = logging.getLogger(__name__)


def _call(function, /, **kwargs):
    return db_call(function)(**kwargs)


# --- client actions -----------------------------------------------------------------------


def _optional_id(frame: Frame, name: str) -> int | None:
    return None if frame.get(name) is None else positive_int(frame, name)


def _text(frame: Frame, name: str = "message") -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise Invalid(f"`{name}` must be a string.")
    return value


@db_call
def _conversation_for(user, conversation_id: int) -> Conversation:
    return selectors.conversation_for_viewer(user=user, conversation_id=conversation_id)


@db_call
def _target_user_id(value) -> int:
    """targetUserId: an id, or (as the Group Chat design sent it) a username."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip():
        user = accounts.user_get_by_username(username=value, active_only=False)
        if user is not None:
            return user.pk
        raise NotFound("No such user.")
    raise Invalid("`targetUserId` must be a user id or a username.")


async def _ack(socket: Consumer, message, request_id):
    await socket.send_json(events.ack_frame(message, request_id))


async def create_room(socket: Consumer, frame: Frame):
    name = _text(frame, "roomName")
    room = await _call(services.conversation_create, actor=socket.user, kind="room", name=name)
    await relay.follow_now(socket, room, Membership.Role.ADMIN)
    await socket.send_json(
        {
            "action": "roomCreated",
            "roomId": room.pk,
            "roomName": room.name,
            "requestId": frame["requestId"],
        }
    )


async def join_room(socket: Consumer, frame: Frame):
    room = await _conversation_for(socket.user, positive_int(frame, "roomId"))
    sub_action = frame.get("subAction")
    if sub_action == "request":
        membership = await _call(
            memberships.membership_request, actor=socket.user, conversation=room
        )
        if membership.status != Membership.Status.PENDING:
            raise Invalid("You are already a member of this room.")
        return  # the answer comes as joinResponse through the user's group
    if sub_action in ("approve", "reject"):
        target = await _target_user_id(frame.get("targetUserId"))
        decide = (
            memberships.membership_approve
            if sub_action == "approve"
            else memberships.membership_reject
        )
        await _call(decide, actor=socket.user, conversation=room, user_id=target)
        return
    raise Invalid('`subAction` must be "request", "approve" or "reject".')


async def enter_room(socket: Consumer, frame: Frame):
    room_id = positive_int(frame, "roomId")
    follow = socket.state(ChatState).follows.get(room_id)
    if follow is None or follow.cutoff is not None:
        await _call(selectors.conversation_for_reader, user=socket.user, conversation_id=room_id)
    socket.state(ChatState).current_room = room_id


async def _send(socket: Consumer, frame: Frame, conversation_id: int):
    text = _text(frame)
    message, created = await _call(
        services.message_send,
        sender=socket.user,
        conversation_id=conversation_id,
        text=text,
        client_id=frame.get("clientId"),
        reply_to=frame.get("replyTo"),
        attachments=frame.get("attachments"),
        origin=socket.channel_name,
    )
    if created:
        socket.state(ChatState).own.setdefault(conversation_id, set()).add(message.seq)
    await _ack(socket, message, frame["requestId"])


async def send_message(socket: Consumer, frame: Frame):
    conversation_id = _optional_id(frame, "conversationId") or _optional_id(frame, "roomId")
    if conversation_id is None:
        conversation_id = socket.state(ChatState).current_room
    if conversation_id is None:
        raise Invalid("Give `conversationId` or `roomId`, or enter a room first.")
    await _send(socket, frame, conversation_id)


async def send_direct(socket: Consumer, frame: Frame):
    message, created = await _call(
        services.direct_message_send,
        sender=socket.user,
        recipient_id=positive_int(frame, "to"),
        text=_text(frame),
        client_id=frame.get("clientId"),
        reply_to=frame.get("replyTo"),
        attachments=frame.get("attachments"),
        origin=socket.channel_name,
    )
    if created:
        socket.state(ChatState).own.setdefault(message.conversation_id, set()).add(message.seq)
    await _ack(socket, message, frame["requestId"])


async def edit_message(socket: Consumer, frame: Frame):
    message = await _call(
        services.message_edit,
        actor=socket.user,
        conversation_id=positive_int(frame, "conversationId"),
        message_id=positive_int(frame, "id"),
        text=_text(frame),
        origin=socket.channel_name,
    )
    await socket.send_json(
        {**events.message_edited_frame(message), "requestId": frame["requestId"]}
    )


async def delete_message(socket: Consumer, frame: Frame):
    message = await _call(
        services.message_delete,
        actor=socket.user,
        conversation_id=positive_int(frame, "conversationId"),
        message_id=positive_int(frame, "id"),
        origin=socket.channel_name,
    )
    await socket.send_json(
        {**events.message_deleted_frame(message), "requestId": frame["requestId"]}
    )


@db_call
def _reaction_answer(user, message, emoji: str, op: str) -> dict:
    """The `reaction` frame as this user sees it (not counting users they block)."""
    count = selectors.reaction_count(message_id=message.pk, emoji=emoji, user_id=user.pk)
    return events.reaction_frame(message, emoji, user.pk, op, count)


def _reaction_args(socket: Consumer, frame: Frame) -> dict:
    return {
        "actor": socket.user,
        "conversation_id": positive_int(frame, "conversationId"),
        "message_id": positive_int(frame, "id"),
        "emoji": frame.get("emoji"),
        "origin": socket.channel_name,
    }


async def react(socket: Consumer, frame: Frame):
    message, _ = await _call(services.reaction_add, **_reaction_args(socket, frame))
    answer = await _reaction_answer(socket.user, message, frame["emoji"], "add")
    await socket.send_json({**answer, "requestId": frame["requestId"]})


async def unreact(socket: Consumer, frame: Frame):
    message = await _call(services.reaction_remove, **_reaction_args(socket, frame))
    answer = await _reaction_answer(socket.user, message, frame["emoji"], "remove")
    await socket.send_json({**answer, "requestId": frame["requestId"]})


@db_call
def _room_members(user, room_id: int) -> dict:
    """The members list with each one's presence as the reader may see it (SPEC section
    13), as REST's: one Redis round trip."""
    conversation, membership = selectors.conversation_for_reader(user=user, conversation_id=room_id)
    members = list(selectors.members_visible_to(membership=membership).order_by("id"))
    seen = presence.of_members(viewer_id=user.pk, members=members)
    participants = [
        {
            "userId": m.user_id,
            "username": m.user.username,
            "status": m.status,
            "isAdmin": m.role == Membership.Role.ADMIN,
            # `status` is the membership's, as in REST's members lists.
            "presence": seen[m.user_id].status,
            "lastSeen": seen[m.user_id].last_seen_ms(),
        }
        for m in members
    ]
    return {
        "action": "roomMembers",
        "roomId": conversation.pk,
        "roomName": conversation.name,
        "participants": participants,
    }


async def get_members(socket: Consumer, frame: Frame):
    reply = await _room_members(socket.user, positive_int(frame, "roomId"))
    reply["requestId"] = frame["requestId"]
    await socket.send_json(reply)


async def _cursor(socket: Consumer, frame: Frame, service):
    conversation = await _conversation_for(socket.user, positive_int(frame, "conversationId"))
    seq = frame.get("seq")
    await _call(service, user=socket.user, conversation=conversation, seq=seq)


async def delivered(socket: Consumer, frame: Frame):
    await _cursor(socket, frame, services.conversation_mark_delivered)


async def read(socket: Consumer, frame: Frame):
    await _cursor(socket, frame, services.conversation_mark_read)


@db_call
def _history(user, conversation_id, after_seq, limit) -> str:
    conversation, _ = selectors.conversation_for_reader(user=user, conversation_id=conversation_id)
    messages, has_more = selectors.message_page(
        user=user, conversation=conversation, after_seq=after_seq, limit=limit
    )
    return events.history_frame(conversation, messages, has_more)


async def sync(socket: Consumer, frame: Frame):
    after_seq = frame.get("afterSeq", 0)
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        raise Invalid("`afterSeq` must be a whole number, 0 or more.")
    limit = frame.get("limit", 100)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise Invalid("`limit` must be an integer from 1 to 200.")
    text = await _history(socket.user, positive_int(frame, "conversationId"), after_seq, limit)
    request_id = events.encode(frame["requestId"])
    await socket.send(text_data=f'{text[:-1]},"requestId":{request_id}}}')


async def typing(socket: Consumer, frame: Frame):
    """Announce that the user is typing to a conversation's other members: an approved
    membership as the socket knows it, at most one per TYPING_EVERY_SECONDS (more are let
    go without a word: clients send as keys are pressed). Nothing is stored, and a channel
    layer that cannot take it loses it."""
    conversation_id = positive_int(frame, "conversationId")
    chat = socket.state(ChatState)
    if conversation_id not in chat.follows:
        raise NotFound("No such conversation.")
    now = time.monotonic()
    if (
        now - chat.typed.get(conversation_id, -relay.TYPING_EVERY_SECONDS)
        < relay.TYPING_EVERY_SECONDS
    ):
        return
    chat.typed[conversation_id] = now
    event = events.typing_event(conversation_id, socket.user.pk, socket.user.username, time.time())
    try:
        await socket.channel_layer.group_send(events.conversation_group(conversation_id), event)
    except Exception:  # ephemeral: a lost typing frame is a typing frame not shown
        logger.info("typing frame not published", exc_info=True)


async def report_presence(socket: Consumer, frame: Frame):
    """`{"action": "presence", "status": "active" | "idle"}`: this socket's user is at it, or
    has stepped away (chat.presence works out what that makes them)."""
    status = frame.get("status")
    if status not in ("active", "idle"):
        raise Invalid('`status` must be "active" or "idle".')
    await relay.presence_changed(socket, status)

"""The chat side of the WebSocket protocol (SPEC section 7): the client actions. Each one
parses its frame, calls the chat services, and answers; what reaches other sockets goes
through the services' events and chat/relay.py.
"""

from django.contrib.auth import get_user_model

from messaging_site.consumers import action
from messaging_site.db import db_call
from messaging_site.errors import Invalid, NotFound

from . import events, memberships, relay, selectors, services
from .models import Conversation, Membership

User = get_user_model()


def _call(function, /, **kwargs):
    return db_call(function)(**kwargs)


# --- client actions -----------------------------------------------------------------------


def _id(frame: dict, name: str, *, required: bool = True) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"`{name}` must be a positive integer.")
    return value


def _text(frame: dict, name: str = "message") -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise Invalid(f"`{name}` must be a string.")
    return value


@db_call
def _conversation_for(user, conversation_id: int) -> Conversation:
    return selectors.conversation_get_for_user(user=user, conversation_id=conversation_id)


@db_call
def _target_user_id(value) -> int:
    """targetUserId: an id, or (as the Group Chat design sent it) a username."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip():
        user = User.objects.filter(username__iexact=value.strip()).first()
        if user is not None:
            return user.pk
        raise NotFound("No such user.")
    raise Invalid("`targetUserId` must be a user id or a username.")


async def _ack(consumer, message, request_id):
    await consumer.send_json(events.ack_frame(message, request_id))


@action("createRoom", throttled=True)
async def create_room(consumer, frame):
    name = _text(frame, "roomName")
    room = await _call(services.conversation_create, actor=consumer.user, kind="room", name=name)
    await relay.follow_now(consumer, room, Membership.Role.ADMIN)
    await consumer.send_json(
        {
            "action": "roomCreated",
            "roomId": room.pk,
            "roomName": room.name,
            "requestId": frame["requestId"],
        }
    )


@action("joinRoom", throttled=True)
async def join_room(consumer, frame):
    room = await _conversation_for(consumer.user, _id(frame, "roomId"))
    sub_action = frame.get("subAction")
    if sub_action == "request":
        membership = await _call(
            memberships.membership_request, actor=consumer.user, conversation=room
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
        await _call(decide, actor=consumer.user, conversation=room, user_id=target)
        return
    raise Invalid('`subAction` must be "request", "approve" or "reject".')


@action("enterRoom")
async def enter_room(consumer, frame):
    room_id = _id(frame, "roomId")
    follow = consumer.chat.follows.get(room_id)
    if follow is None or follow.cutoff is not None:
        conversation = await _conversation_for(consumer.user, room_id)
        await _call(services.require_member, conversation=conversation, user=consumer.user)
    consumer.chat.current_room = room_id


async def _send(consumer, frame, conversation_id: int):
    text = _text(frame)
    message, created = await _call(
        services.message_send_to,
        sender=consumer.user,
        conversation_id=conversation_id,
        text=text,
        client_id=frame.get("clientId"),
        origin=consumer.channel_name,
    )
    if created:
        consumer.chat.own.setdefault(conversation_id, set()).add(message.seq)
    await _ack(consumer, message, frame["requestId"])


@action("sendMessage", throttled=True)
async def send_message(consumer, frame):
    conversation_id = _id(frame, "conversationId", required=False) or _id(
        frame, "roomId", required=False
    )
    if conversation_id is None:
        conversation_id = consumer.chat.current_room
    if conversation_id is None:
        raise Invalid("Give `conversationId` or `roomId`, or enter a room first.")
    await _send(consumer, frame, conversation_id)


@action("sendDirect", throttled=True)
async def send_direct(consumer, frame):
    message, created = await _call(
        services.direct_message_send,
        sender=consumer.user,
        recipient_id=_id(frame, "to"),
        text=_text(frame),
        client_id=frame.get("clientId"),
        origin=consumer.channel_name,
    )
    if created:
        consumer.chat.own.setdefault(message.conversation_id, set()).add(message.seq)
    await _ack(consumer, message, frame["requestId"])


@db_call
def _room_members(user, room_id: int) -> dict:
    conversation, membership = selectors.conversation_get_for_member(
        user=user, conversation_id=room_id
    )
    participants = [
        {
            "userId": m.user_id,
            "username": m.user.username,
            "status": m.status,
            "isAdmin": m.role == Membership.Role.ADMIN,
        }
        for m in selectors.members_visible_to(membership=membership).order_by("id")
    ]
    return {
        "action": "roomMembers",
        "roomId": conversation.pk,
        "roomName": conversation.name,
        "participants": participants,
    }


@action("getMembers")
async def get_members(consumer, frame):
    reply = await _room_members(consumer.user, _id(frame, "roomId"))
    reply["requestId"] = frame["requestId"]
    await consumer.send_json(reply)


async def _cursor(consumer, frame, service):
    conversation = await _conversation_for(consumer.user, _id(frame, "conversationId"))
    seq = frame.get("seq")
    await _call(service, user=consumer.user, conversation=conversation, seq=seq)


@action("delivered")
async def delivered(consumer, frame):
    await _cursor(consumer, frame, services.conversation_mark_delivered)


@action("read")
async def read(consumer, frame):
    await _cursor(consumer, frame, services.conversation_mark_read)


@db_call
def _history(user, conversation_id, after_seq, limit) -> str:
    conversation, _ = selectors.conversation_get_for_member(
        user=user, conversation_id=conversation_id
    )
    messages, has_more = selectors.message_page(
        user=user, conversation=conversation, after_seq=after_seq, limit=limit
    )
    return events.history_frame(conversation, messages, has_more)


@action("sync")
async def sync(consumer, frame):
    after_seq = frame.get("afterSeq", 0)
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        raise Invalid("`afterSeq` must be a whole number, 0 or more.")
    limit = frame.get("limit", 100)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise Invalid("`limit` must be an integer from 1 to 200.")
    text = await _history(consumer.user, _id(frame, "conversationId"), after_seq, limit)
    request_id = events.encode(frame["requestId"])
    await consumer.send(text_data=f'{text[:-1]},"requestId":{request_id}}}')

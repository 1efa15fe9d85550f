"""Every WebSocket frame the chat app sends, and the channel-layer events that carry them
(docs/PROTOCOL.md).

Frames are built once per event and encoded once (`text`); each socket forwards the text
unless its own state says otherwise (an ack instead of its own message, a blocked sender,
a conversation it left). Events go out through messaging_site.realtime after commit, but
for a revocation, which goes before (`membership_revoked`).

Groups: `conv.<id>` holds every socket of every approved member of a conversation. One
group_send per event, whatever the member count; each socket filters what its user must
not see (blocked senders) and keeps each conversation's messages in seq order
(chat/relay.py). docs/REALTIME.md says why this design.
"""

import json
from datetime import datetime

from messaging_site.realtime import publish_before_commit, publish_on_commit, user_group

from .models import DELETED_USER, EXCERPT_LENGTH, Conversation, Membership, Message


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def encode(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def typing_event(conversation_id: int, user_id: int, username: str, at: float) -> dict:
    """`chat.typing`: someone is typing in a conversation (SPEC section 13). Never stored;
    `at` (epoch seconds) lets a socket that fell behind drop it (chat/relay.py)."""
    return {
        "type": "chat.typing",
        "conversation": conversation_id,
        "user": user_id,
        "at": at,
        "text": encode(
            {
                "action": "typing",
                "conversationId": conversation_id,
                "userId": user_id,
                "username": username,
            }
        ),
    }


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def reply_of(message: Message, *, hidden: bool) -> dict | None:
    """What a message shows of the one it answers (SPEC section 12): the excerpt is empty
    when that message is deleted or `hidden` (its sender is blocked by the reader).
    Precondition: `reply_to` and its sender are loaded."""
    parent = message.reply_to
    if parent is None:
        return None
    return {
        "id": parent.pk,
        "seq": parent.seq,
        "sender_username": parent.sender.username if parent.sender is not None else DELETED_USER,
        "excerpt": "" if hidden or parent.deleted_at is not None else parent.text[:EXCERPT_LENGTH],
    }


def message_frame(message: Message, kind: str, *, hide_reply: bool | None = None) -> dict:
    """Preconditions: `message.sender` and `message.reply_to` (with its sender) are loaded
    (select_related) when it has them. `hide_reply`: whether the reader blocks the sender
    of the message answered (default: as the read that loaded it found)."""
    sender = message.sender
    frame = {
        "action": "message",
        "id": message.pk,
        "conversationId": message.conversation_id,
        "kind": kind,
        "seq": message.seq,
        "userId": message.sender_id,
        "username": sender.username if sender is not None else DELETED_USER,
        "message": message.text,
        "html": message.html,
        "clientId": message.client_id,
        "timestamp": epoch_ms(message.created_at),
        "editedAt": epoch_ms(message.edited_at) if message.edited_at else None,
        "replyTo": reply_of(
            message, hidden=message.reply_hidden if hide_reply is None else hide_reply
        ),
        "reactions": message.reaction_summary or [],
        "mentions": message.mentions,
        "attachments": message.attachments,
    }
    if kind == Conversation.Kind.ROOM:
        frame["roomId"] = message.conversation_id
    if message.deleted_at is not None:
        frame["deleted"] = True
    return frame


def ack_frame(message: Message, request_id: str | int | None = None) -> dict:
    return {
        "action": "ack",
        "clientId": message.client_id,
        "id": message.pk,
        "conversationId": message.conversation_id,
        "seq": message.seq,
        "timestamp": epoch_ms(message.created_at),
        # Beyond SPEC section 7's ack: the sending tab has no `message` frame to take it from.
        "html": message.html,
        "attachments": message.attachments,
        "requestId": request_id,
    }


def membership_frame(membership: Membership) -> dict:
    return {
        "action": "membership",
        "conversationId": membership.conversation_id,
        "userId": membership.user_id,
        "username": membership.user.username,
        "status": membership.status,
        "role": membership.role,
    }


# Daphne (Autobahn) drops a connection that is sent a frame over 1 MiB: a history page
# stops short of this many bytes of messages, and says there is more.
HISTORY_MAX_BYTES = 512 * 1024


def history_frame(conversation: Conversation, messages: list[Message], has_more: bool) -> str:
    """The encoded `history` frame: as many of `messages` as fit (at least one)."""
    items: list[str] = []
    size = 0
    for message in messages:
        item = encode(message_frame(message, conversation.kind))
        if items and size + len(item.encode()) > HISTORY_MAX_BYTES:
            has_more = True
            break
        items.append(item)
        size += len(item.encode())
    head = encode({"action": "history", "conversationId": conversation.pk, "hasMore": has_more})
    return f'{head[:-1]},"messages":[{",".join(items)}]}}'


# --- events -----------------------------------------------------------------------------


def message_created(message: Message, conversation: Conversation, *, origin: str | None) -> None:
    """After commit: the message to every member socket (the sending one acks instead)."""
    event = {
        "type": "chat.message",
        "conversation": conversation.pk,
        "seq": message.seq,
        "sender": message.sender_id,
        "origin": origin,
        "text": encode(message_frame(message, conversation.kind, hide_reply=False)),
    }
    parent = message.reply_to
    if parent is not None and parent.sender_id is not None and parent.deleted_at is None:
        # For the sockets of users who block the sender of the message answered.
        event["reply_sender"] = parent.sender_id
        event["text_reply_hidden"] = encode(
            message_frame(message, conversation.kind, hide_reply=True)
        )
    publish_on_commit([(conversation_group(conversation.pk), event)])


def _about_message(message: Message, frame: dict, origin: str | None) -> None:
    """After commit: a frame about one message to every member socket, each passing on
    the message itself first if it has not yet (chat.relay.relay_frame, `after`); the
    socket named by `origin` gets it as its answer instead."""
    publish_on_commit(
        [
            (
                conversation_group(message.conversation_id),
                {
                    "type": "chat.frame",
                    "conversation": message.conversation_id,
                    "after": message.seq,
                    "sender": message.sender_id,
                    "origin": origin,
                    "text": encode(frame),
                },
            )
        ]
    )


def message_edited_frame(message: Message) -> dict:
    """`editedAt` is null only in the answer to an edit that changed nothing of a message
    never edited."""
    return {
        "action": "messageEdited",
        "conversationId": message.conversation_id,
        "id": message.pk,
        "seq": message.seq,
        "message": message.text,
        "html": message.html,
        "editedAt": epoch_ms(message.edited_at) if message.edited_at else None,
    }


def message_edited(message: Message, *, origin: str | None) -> None:
    _about_message(message, message_edited_frame(message), origin)


def message_deleted_frame(message: Message) -> dict:
    return {
        "action": "messageDeleted",
        "conversationId": message.conversation_id,
        "id": message.pk,
        "seq": message.seq,
    }


def message_deleted(message: Message, *, origin: str | None = None) -> None:
    _about_message(message, message_deleted_frame(message), origin)


# Up to this many reactors of one emoji travel with its event (chat.relay.relay_reaction).
REACTORS_LISTED = 50


def reaction_frame(message: Message, emoji: str, user_id: int, op: str, count: int) -> dict:
    return {
        "action": "reaction",
        "conversationId": message.conversation_id,
        "id": message.pk,
        "emoji": emoji,
        "userId": user_id,
        "op": op,
        "count": count,
    }


def reaction_changed(
    message: Message,
    emoji: str,
    user_id: int,
    op: str,
    count: int,
    reactors: list[int] | None,
    *,
    origin: str | None,
) -> None:
    """After commit, to every member socket after the message itself; `count` is everyone's,
    and a socket whose user blocks some of `reactors` (None: more than REACTORS_LISTED)
    counts without them."""
    publish_on_commit(
        [
            (
                conversation_group(message.conversation_id),
                {
                    "type": "chat.reaction",
                    "conversation": message.conversation_id,
                    "after": message.seq,
                    "sender": message.sender_id,
                    "origin": origin,
                    "id": message.pk,
                    "emoji": emoji,
                    "reactor": user_id,
                    "reactors": reactors,
                    "count": count,
                    "text": encode(reaction_frame(message, emoji, user_id, op, count)),
                },
            )
        ]
    )


def membership_changed(membership: Membership, *, since: int) -> None:
    """After commit: to the conversation's approved members and to the user concerned.

    `since` is the conversation's last seq when the change was made: a newly approved
    member's sockets deliver every message after it, however late they hear of it.
    """
    frame = membership_frame(membership)
    text = encode(frame)
    publish_on_commit(
        [
            (
                conversation_group(membership.conversation_id),
                {
                    "type": "chat.frame",
                    "conversation": membership.conversation_id,
                    "skip_user": membership.user_id,
                    "membership": [membership.user_id, membership.status, membership.role],
                    "text": text,
                },
            ),
            (
                user_group(membership.user_id),
                {
                    "type": "chat.membership",
                    "conversation": membership.conversation_id,
                    "status": membership.status,
                    "role": membership.role,
                    "since": since,
                    "kind": membership.conversation.kind,
                    "text": text,
                },
            ),
        ]
    )


def membership_revoked(conversation: Conversation, user_id: int) -> None:
    """Before commit, under the conversation's row lock: the user's sockets stop taking
    this conversation's messages after `last_seq`.

    Any later message needs the lock to get its seq and is published after its own
    commit, so this event reaches every socket first (one Redis, one group, in order).
    Should the removal roll back, no membership event confirms it and the sockets resume
    (chat.relay.relay_revoke).
    """
    publish_before_commit(
        [
            (
                conversation_group(conversation.pk),
                {
                    "type": "chat.revoke",
                    "conversation": conversation.pk,
                    "user": user_id,
                    "cutoff": conversation.last_seq,
                },
            )
        ]
    )


def join_requested(membership: Membership) -> None:
    """To the room's admins (their sockets check their role), and the requester's answer."""
    conversation_id = membership.conversation_id
    request = {
        "action": "joinRequest",
        "userId": membership.user_id,
        "username": membership.user.username,
        "roomId": conversation_id,
    }
    publish_on_commit(
        [
            (
                conversation_group(conversation_id),
                {
                    "type": "chat.frame",
                    "conversation": conversation_id,
                    "admins_only": True,
                    "text": encode(request),
                },
            ),
            (
                user_group(membership.user_id),
                {
                    "type": "chat.user_frame",
                    "text": encode(join_response_frame(conversation_id, membership.status)),
                },
            ),
        ]
    )


def join_response_frame(conversation_id: int, status: str) -> dict:
    return {"action": "joinResponse", "roomId": conversation_id, "status": status}


def join_decided(membership: Membership, *, since: int) -> None:
    """approve / reject: the requester's sockets hear the answer; members the change."""
    publish_on_commit(
        [
            (
                user_group(membership.user_id),
                {
                    "type": "chat.user_frame",
                    "text": encode(
                        join_response_frame(membership.conversation_id, membership.status)
                    ),
                },
            )
        ]
    )
    membership_changed(membership, since=since)


def receipt(membership: Membership, status: str, seq: int) -> None:
    frame = {
        "action": "receipt",
        "conversationId": membership.conversation_id,
        "userId": membership.user_id,
        "status": status,
        "seq": seq,
    }
    publish_on_commit(
        [
            (
                conversation_group(membership.conversation_id),
                {
                    "type": "chat.frame",
                    "conversation": membership.conversation_id,
                    "skip_user": membership.user_id,
                    "text": encode(frame),
                },
            )
        ]
    )

"""Conversation rules: creation, membership states, sending, cursors, moderation.

Every interface (REST, WebSocket, admin) calls these; none of them holds a rule of its own.
Membership changes and sends on one conversation serialise on that conversation's row
lock, which is what makes `seq` gapless and the "last admin" rule race-free.
"""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Subquery, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from accounts.models import Block
from messaging_site.errors import Blocked, Forbidden, Invalid, NotFound

from . import events, sending
from .models import Conversation, Membership, Message

User = get_user_model()

MAX_TEXT_LENGTH = 10_000
MAX_NAME_LENGTH = 100
MAX_CLIENT_ID_LENGTH = 64

Kind = Conversation.Kind
Role = Membership.Role
Status = Membership.Status


# --- validation ---------------------------------------------------------------------------


def clean_text(text) -> str:
    if not isinstance(text, str):
        raise Invalid(fields={"text": ["Not a valid string."]})
    text = text.strip()
    if not text:
        raise Invalid(fields={"text": ["A message needs some text."]})
    if len(text) > MAX_TEXT_LENGTH:
        raise Invalid(fields={"text": [f"At most {MAX_TEXT_LENGTH} characters."]})
    return text


def clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid(fields={"name": ["A name is required."]})
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid(fields={"name": [f"At most {MAX_NAME_LENGTH} characters."]})
    return name


def clean_client_id(client_id) -> str | None:
    if client_id is None or client_id == "":
        return None
    if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
        raise Invalid(
            fields={"client_id": [f"A string of at most {MAX_CLIENT_ID_LENGTH} characters."]}
        )
    return client_id


# --- shared checks ------------------------------------------------------------------------


def blocking_between(user_id: int, other_id: int) -> bool:
    """True while either user blocks the other."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def lock_conversation(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def membership_of(conversation: Conversation, user_id: int) -> Membership | None:
    return (
        Membership.objects.select_related("user", "conversation")
        .filter(conversation=conversation, user_id=user_id)
        .first()
    )


def require_member(conversation: Conversation, user) -> Membership:
    """The user's approved membership, or the error a non-member must see.

    A room is public by name, so a non-member learns only that they may not (403); a
    group or direct conversation is never confirmed to a stranger (404).
    """
    membership = membership_of(conversation, user.pk)
    if membership is not None and membership.status == Status.APPROVED:
        return membership
    if conversation.kind == Kind.ROOM:
        raise Forbidden("Only approved members of this room may do this.")
    raise NotFound("No such conversation.")


def require_admin(conversation: Conversation, actor) -> None:
    """Conversation admins decide; so do site moderators (staff), from Django admin."""
    if actor.is_staff:
        return
    membership = require_member(conversation, actor)
    if membership.role != Role.ADMIN:
        raise Forbidden("Only an admin of this conversation may do this.")


def require_not_direct(conversation: Conversation) -> None:
    if conversation.kind == Kind.DIRECT:
        raise Forbidden("A direct conversation always has exactly its two people.")


def active_user(user_id: int):
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


# --- conversations ------------------------------------------------------------------------


@transaction.atomic
def conversation_create(*, actor, kind: str, name: str) -> Conversation:
    """A group or a room, with its creator as the first admin."""
    if kind not in (Kind.GROUP, Kind.ROOM):
        raise Invalid(fields={"kind": ['Must be "group" or "room".']})
    conversation = Conversation.objects.create(kind=kind, name=clean_name(name), created_by=actor)
    membership = Membership.objects.create(
        conversation=conversation,
        user=actor,
        role=Role.ADMIN,
        status=Status.APPROVED,
        joined_at=timezone.now(),
    )
    events.membership_changed(membership, since=0)
    return conversation


def direct_conversation_get_or_create(*, user, other) -> Conversation:
    """The one direct conversation of a pair, made on first use (races end in the same row)."""
    low, high = sorted((user.pk, other.pk))
    existing = Conversation.objects.filter(
        kind=Kind.DIRECT, direct_low_id=low, direct_high_id=high
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=Kind.DIRECT, created_by=user, direct_low_id=low, direct_high_id=high
            )
            now = timezone.now()
            for member in (user, other):
                membership = Membership.objects.create(
                    conversation=conversation,
                    user=member,
                    role=Role.MEMBER,
                    status=Status.APPROVED,
                    joined_at=now,
                )
                # Both people's open sockets start following it from its first message.
                events.membership_changed(membership, since=0)
            return conversation
    except IntegrityError:
        return Conversation.objects.get(kind=Kind.DIRECT, direct_low_id=low, direct_high_id=high)


# --- messages -----------------------------------------------------------------------------


def _existing_send(conversation_id: int, sender_id: int, client_id: str | None):
    if client_id is None:
        return None
    return (
        Message.objects.select_related("sender")
        .filter(conversation_id=conversation_id, sender_id=sender_id, client_id=client_id)
        .first()
    )


def message_send(
    *, sender, conversation: Conversation, text, client_id=None, origin: str | None = None
) -> tuple[Message, bool]:
    """Append a message; returns (message, created).

    After commit every member's sockets get it as a `message` frame, except the socket
    named by `origin` (the sending one, which gets an ack instead).

    A retry with a `client_id` already used by this sender here returns the first message
    (created False), also when the two sends race: the second one waits for the row lock
    and then finds the first. Raises Invalid (text, client_id), NotFound / Forbidden for a
    non-member, Blocked for a direct conversation where either person blocks the other.
    """
    message, created = message_send_to(
        sender=sender,
        conversation_id=conversation.pk,
        text=text,
        client_id=client_id,
        origin=origin,
    )
    if created:
        conversation.last_seq = message.seq
        conversation.last_message_at = message.created_at
    return message, created


def message_send_to(
    *, sender, conversation_id: int, text, client_id=None, origin: str | None = None
) -> tuple[Message, bool]:
    """`message_send` by conversation id, for callers that hold no conversation yet (the
    REST view, the socket): a missing conversation is NotFound, like one not visible."""
    text = clean_text(text)
    client_id = clean_client_id(client_id)
    if connection.vendor == "postgresql":
        message, conversation, created = _send_postgresql(sender, conversation_id, text, client_id)
    else:
        with transaction.atomic():
            message, conversation, created = _send_orm(sender, conversation_id, text, client_id)
    if created:
        # After the commit: at once, or when the caller's transaction commits.
        events.message_created(message, conversation, origin=origin)
    return message, created


def _send_postgresql(sender, conversation_id, text, client_id):
    """One round trip, its own transaction (chat/sending.py); the rules of `_send_orm`."""
    now = timezone.now()
    result = sending.send(
        conversation_id=conversation_id,
        sender_id=sender.pk,
        text=text,
        client_id=client_id,
        now=now,
    )
    if result.outcome == "missing":
        raise NotFound("No such conversation.")
    conversation = Conversation(
        pk=conversation_id,
        kind=result.kind,
        name=result.name,
        direct_low_id=result.direct_low_id,
        direct_high_id=result.direct_high_id,
    )
    conversation._state.adding = False
    if result.outcome == "not_member":
        require_member(conversation, sender)  # raises what this non-member may be told
    if result.outcome == "blocked":
        raise Blocked()
    message = Message(
        pk=result.id,
        conversation=conversation,
        seq=result.seq,
        sender=sender,
        text=result.text,
        client_id=client_id,
        created_at=result.created_at,
        deleted_at=result.deleted_at,
    )
    message._state.adding = False
    return message, conversation, result.outcome == "sent"


def _send_orm(sender, conversation_id, text, client_id):
    """The send on databases other than PostgreSQL, in the caller's transaction."""
    try:
        locked = Conversation.objects.select_for_update().get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise NotFound("No such conversation.") from None
    # Under the lock, so a racing first send has committed; before the checks, so a
    # retry gets its first message back even if membership changed since.
    retried = _existing_send(locked.pk, sender.pk, client_id)
    if retried is not None:
        return retried, locked, False
    require_member(locked, sender)
    if locked.kind == Kind.DIRECT:
        other_id = (
            locked.direct_high_id if locked.direct_low_id == sender.pk else locked.direct_low_id
        )
        if blocking_between(sender.pk, other_id):
            raise Blocked()
    now = timezone.now()
    locked.last_seq += 1
    locked.last_message_at = now
    locked.save(update_fields=["last_seq", "last_message_at"])
    message = Message.objects.create(
        conversation=locked,
        seq=locked.last_seq,
        sender=sender,
        text=text,
        client_id=client_id,
        created_at=now,
    )
    # Writing implies having read up to here: one's own messages are never unread,
    # and unread counts stay a subtraction (chat.selectors).
    Membership.objects.filter(conversation=locked, user=sender).update(
        read_seq=Greatest(F("read_seq"), Value(message.seq)),
        delivered_seq=Greatest(F("delivered_seq"), Value(message.seq)),
    )
    return message, locked, True


def direct_message_send(
    *, sender, recipient_id: int, text, client_id=None, origin: str | None = None
) -> tuple[Message, bool]:
    """Send to one person, creating your direct conversation with them on first use.

    Raises Invalid (yourself, text), NotFound (no such active user), Blocked. Nothing is
    written when it raises, not even the conversation.
    """
    if recipient_id == sender.pk:
        raise Invalid(fields={"user_id": ["You cannot message yourself."]})
    text = clean_text(text)
    recipient = active_user(recipient_id)
    if blocking_between(sender.pk, recipient.pk):
        raise Blocked()
    with transaction.atomic():
        conversation = direct_conversation_get_or_create(user=sender, other=recipient)
        return message_send(
            sender=sender,
            conversation=conversation,
            text=text,
            client_id=client_id,
            origin=origin,
        )


def _advance(user, conversation: Conversation, seq, *, delivered_only: bool) -> Membership:
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Invalid(fields={"seq": ["A whole number, 0 or more."]})
    membership = require_member(conversation, user)
    last_seq = Conversation.objects.filter(pk=conversation.pk).values("last_seq")[:1]
    target = Least(Value(seq), Subquery(last_seq))
    moved = {"delivered_seq": Greatest(F("delivered_seq"), target)}
    if not delivered_only:
        moved["read_seq"] = Greatest(F("read_seq"), target)
    before = (membership.read_seq, membership.delivered_seq)
    Membership.objects.filter(pk=membership.pk).update(**moved)
    membership.refresh_from_db(fields=["read_seq", "delivered_seq"])
    if delivered_only and membership.delivered_seq > before[1]:
        events.receipt(membership, "delivered", membership.delivered_seq)
    elif not delivered_only and membership.read_seq > before[0]:
        events.receipt(membership, "read", membership.read_seq)
    return membership


def conversation_mark_read(*, user, conversation: Conversation, seq) -> Membership:
    """Move the user's read cursor (and delivered, which reading implies) to `seq`; the
    other members get a `receipt`.

    Cursors never move backwards, nor past the last message. Raises Invalid for a bad
    seq, NotFound / Forbidden for a non-member.
    """
    return _advance(user, conversation, seq, delivered_only=False)


def conversation_mark_delivered(*, user, conversation: Conversation, seq) -> Membership:
    """Move the user's delivered cursor to `seq`, as conversation_mark_read does."""
    return _advance(user, conversation, seq, delivered_only=True)


@transaction.atomic
def message_tombstone(*, actor, message: Message) -> Message:
    """Moderation: clear the text and mark the message deleted; its seq stays.

    Site moderators (staff) and the conversation's admins may. Deleting twice is harmless.
    """
    conversation = lock_conversation(message.conversation)
    require_admin(conversation, actor)
    deleted = Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(
        text="", deleted_at=timezone.now()
    )
    message.refresh_from_db(fields=["text", "deleted_at"])
    if deleted:
        events.message_deleted(message)
    return message

"""Conversation rules: creation, sending, cursors, moderation (membership changes are in
chat/memberships.py).

Every interface (REST, WebSocket, admin) calls these; none of them holds a rule of its own.
Callers load conversations through chat.selectors' access vocabulary and pass them in; a
service locks the row and checks again under the lock, and never changes the objects it
is given. Membership changes and sends on one conversation serialise on that row lock,
which is what makes `seq` gapless and the "last admin" rule race-free.
"""

import json
from datetime import timedelta

import emoji as emoji_data
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Subquery, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from accounts import selectors as accounts
from accounts.models import User
from messaging_site import text as text_rules
from messaging_site.converters import MAX_ID
from messaging_site.errors import Blocked, Forbidden, Invalid, NotFound
from moderation import services as moderation

from . import events, formatting, selectors, sending, uploads
from .models import Conversation, Membership, Mention, Message, MessageEdit, Reaction, Upload

MAX_TEXT_LENGTH = 10_000
MAX_NAME_LENGTH = 100
MAX_CLIENT_ID_LENGTH = 64

Kind = Conversation.Kind
Role = Membership.Role
Status = Membership.Status


# --- validation ---------------------------------------------------------------------------


def clean_text(value: object, *, required: bool = True) -> str:
    """A message's text; not `required` when it carries attachments."""
    return text_rules.clean(
        value,
        field="text",
        max_length=MAX_TEXT_LENGTH,
        blank="A message needs some text.",
        required=required,
    )


def clean_name(name: object) -> str:
    return text_rules.clean(
        name, field="name", max_length=MAX_NAME_LENGTH, blank="A name is required."
    )


def clean_client_id(client_id: object) -> str | None:
    if client_id is None or client_id == "":
        return None
    if (
        not isinstance(client_id, str)
        or len(client_id) > MAX_CLIENT_ID_LENGTH
        or text_rules.character_problem(client_id) is not None
    ):
        raise Invalid(
            fields={"client_id": [f"A string of at most {MAX_CLIENT_ID_LENGTH} characters."]}
        )
    return client_id


def clean_reply_to(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise Invalid(fields={"reply_to": ["The id of a message in this conversation."]})
    return value


def require_not_direct(conversation: Conversation) -> None:
    if conversation.kind == Kind.DIRECT:
        raise Forbidden("A direct conversation always has exactly its two people.")


# --- conversations ------------------------------------------------------------------------


@transaction.atomic
def conversation_create(*, actor: User, kind: str, name: str) -> Conversation:
    """A group or a room, with its creator as the first admin. Raises Invalid for the kind
    or the name."""
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


def _direct_conversation(*, user: User, other: User) -> Conversation:
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


def message_send(
    *,
    sender: User,
    conversation_id: int,
    text: str,
    client_id: str | None = None,
    reply_to: int | None = None,
    attachments: list[int] | None = None,
    origin: str | None = None,
) -> tuple[Message, bool]:
    """Append a message, answering `reply_to` and carrying the uploads `attachments` if
    given; returns (message, created). A message with attachments may have no text.

    After commit every member's sockets get it as a `message` frame, except the socket
    named by `origin` (the sending one, which gets an ack instead).

    The one service that takes an id, not a loaded conversation: its single statement
    checks access itself (chat/sending.py), so the hot path loads nothing first. A retry
    with a `client_id` already used by this sender here returns the first message
    (created False), also when the two sends race: the second one waits for the row lock
    and then finds the first; it is published again, for the members' sockets that a
    server which died after storing it never told.

    Raises Invalid (text, client_id); for a non-member, or a missing conversation, what
    `selectors.refusal_for_non_member` says; Blocked for a direct conversation where
    either person blocks the other; Invalid when `reply_to` is not a message of this
    conversation, or when an attachment is not an upload of the sender's that no message
    carries yet.
    """
    upload_ids = uploads.clean_attachment_ids(attachments)
    clean = clean_text(text, required=not upload_ids)
    clean_id = clean_client_id(client_id)
    parent_id = clean_reply_to(reply_to)
    message, conversation, created = _send(
        sender, conversation_id, clean, clean_id, parent_id, upload_ids
    )
    # After the commit: at once, or when the caller's transaction commits. A retry
    # publishes the stored message again: the process that stored it may have died before
    # publishing, and members' sockets drop a seq they have passed on already.
    events.message_created(message, conversation, origin=origin)
    return message, created


def _send(
    sender: User,
    conversation_id: int,
    text: str,
    client_id: str | None,
    reply_to: int | None,
    upload_ids: list[int],
) -> tuple[Message, Conversation, bool]:
    """One round trip, its own transaction unless the caller holds one (chat/sending.py).

    Under the conversation's row lock: a retry with a used `client_id` gets its first
    message back (even from someone no longer a member); then the sender must be an
    approved member; then, in a direct conversation, neither person may block the other.
    Writing implies having read up to here, so the sender's cursors move to the new seq:
    one's own messages are never unread, and unread counts stay a subtraction.
    """
    parsed = formatting.parse(text)
    resolved, mentions = _mentions(parsed, conversation_id, sender.pk)
    shapes = _attachment_shapes(sender, upload_ids)
    result = sending.send(
        conversation_id=conversation_id,
        sender_id=sender.pk,
        text=text,
        html=formatting.render_parsed(parsed, resolved),
        client_id=client_id,
        reply_to=reply_to,
        mentions=mentions,
        now=timezone.now(),
        attachments=upload_ids,
        attachment_json=json.dumps(shapes),
    )
    if result.outcome == "missing":
        raise NotFound("No such conversation.")
    if result.outcome == "not_member":
        raise selectors.refusal_for_non_member(result.kind or "")
    if result.outcome == "blocked":
        raise Blocked()
    if result.outcome == "bad_reply":
        raise Invalid(fields={"reply_to": ["The id of a message in this conversation."]})
    if result.outcome == "bad_attachments":
        raise Invalid(fields={"attachments": [ATTACHED_ALREADY]})
    conversation = Conversation.from_db(
        None,
        ["id", "kind", "name", "direct_low_id", "direct_high_id"],
        [conversation_id, result.kind, result.name, result.direct_low_id, result.direct_high_id],
    )
    # from_db takes the values in the model's field order, whatever the names' order.
    message = Message.from_db(
        None,
        ["id", "conversation_id", "seq", "sender_id", "text", "html", "mentions",
         "attachments", "client_id", "created_at", "edited_at", "deleted_at"],
        [result.id, conversation_id, result.seq, sender.pk, result.text, result.html,
         result.mentions or [], json.loads(result.attachments), client_id, result.created_at,
         result.edited_at, result.deleted_at],
    )  # fmt: skip
    message.conversation = conversation
    message.sender = sender
    message.reply_to = _parent(result, conversation_id)
    message.reply_hidden = result.parent_hidden
    return message, conversation, result.outcome == "sent"


ATTACHED_ALREADY = "An upload goes with one message only: upload the file again."


def _attachment_shapes(sender: User, upload_ids: list[int]) -> list[dict]:
    """The attachments as the message will carry them, in the order given; Invalid for an
    id that is not an upload of the sender's. Whether each is still free is checked under
    its lock, by the send (chat/sending.py). No query without attachments."""
    if not upload_ids:
        return []
    found = {u.pk: u for u in Upload.objects.filter(pk__in=upload_ids, uploader=sender)}
    unknown = [str(pk) for pk in upload_ids if pk not in found]
    if unknown:
        raise Invalid(fields={"attachments": [f"Not an upload of yours: {', '.join(unknown)}."]})
    return [uploads.attachment_shape(found[pk]) for pk in upload_ids]


def _mentions(
    parsed: formatting.Parsed, conversation_id: int, sender_id: int
) -> tuple[dict[str, int], list[int]]:
    """Who a text mentions: the approved members it names, and everyone for `@all` by an
    admin; never the sender. Returns (lower-cased name -> user id, for the html; the ids).
    No query for a text that names no one."""
    if not parsed.names and not parsed.everyone:
        return {}, []
    members = selectors.mentionable(
        conversation_id=conversation_id, names=parsed.names, everyone=parsed.everyone
    )
    resolved = {name: user_id for user_id, name, _ in members if name in parsed.names}
    ids = set(resolved.values())
    roles = {user_id: role for user_id, _, role in members}
    if parsed.everyone and roles.get(sender_id) == Role.ADMIN:
        resolved[formatting.EVERYONE] = 0
        ids.update(roles)
    ids.discard(sender_id)
    return resolved, sorted(ids)


def _remention(message: Message, parsed: formatting.Parsed) -> str:
    """After an edit: the mentions of the new text replace the old ones. Returns the html."""
    resolved, ids = _mentions(parsed, message.conversation_id, message.sender_id or 0)
    Mention.objects.filter(message=message).delete()
    Mention.objects.bulk_create(
        Mention(
            message=message,
            user_id=user_id,
            conversation_id=message.conversation_id,
            seq=message.seq,
            sender_id=message.sender_id,
        )
        for user_id in ids
    )
    message.mentions = ids
    return formatting.render_parsed(parsed, resolved)


def _parent(result: sending.Outcome, conversation_id: int) -> Message | None:
    """The message answered, as far as a reply shows it (its text cut to the excerpt)."""
    if result.parent_id is None:
        return None
    parent = Message.from_db(
        None,
        ["id", "conversation_id", "seq", "sender_id", "text", "deleted_at"],
        [result.parent_id, conversation_id, result.parent_seq, result.parent_sender_id,
         result.parent_text, result.parent_deleted_at],
    )  # fmt: skip
    parent.sender = (
        User.from_db(
            None, ["id", "username"], [result.parent_sender_id, result.parent_sender_username]
        )
        if result.parent_sender_id is not None
        else None
    )
    return parent


def direct_message_send(
    *,
    sender: User,
    recipient_id: int,
    text: str,
    client_id: str | None = None,
    reply_to: int | None = None,
    attachments: list[int] | None = None,
    origin: str | None = None,
) -> tuple[Message, bool]:
    """Send to one person, creating your direct conversation with them on first use.

    Raises Invalid (yourself, text, attachments), NotFound (no such active user), Blocked.
    Nothing is written when it raises, not even the conversation.
    """
    if recipient_id == sender.pk:
        raise Invalid(fields={"user_id": ["You cannot message yourself."]})
    upload_ids = uploads.clean_attachment_ids(attachments)
    clean = clean_text(text, required=not upload_ids)
    recipient = accounts.user_get_active(user_id=recipient_id)
    if accounts.blocking_between(user_id=sender.pk, other_id=recipient.pk):
        raise Blocked()
    with transaction.atomic():
        conversation = _direct_conversation(user=sender, other=recipient)
        return message_send(
            sender=sender,
            conversation_id=conversation.pk,
            text=clean,
            client_id=client_id,
            reply_to=reply_to,
            attachments=upload_ids,
            origin=origin,
        )


def _advance(
    user: User, conversation: Conversation, seq: int, *, delivered_only: bool
) -> Membership:
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Invalid(fields={"seq": ["A whole number, 0 or more."]})
    _, membership = selectors.conversation_for_reader(user=user, conversation_id=conversation.pk)
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


def conversation_mark_read(*, user: User, conversation: Conversation, seq: int) -> Membership:
    """Move the user's read cursor (and delivered, which reading implies) to `seq`; the
    other members get a `receipt`.

    Cursors never move backwards, nor past the last message. Raises Invalid for a bad
    seq, NotFound / Forbidden for a non-member.
    """
    return _advance(user, conversation, seq, delivered_only=False)


def conversation_mark_delivered(*, user: User, conversation: Conversation, seq: int) -> Membership:
    """Move the user's delivered cursor to `seq`, as conversation_mark_read does."""
    return _advance(user, conversation, seq, delivered_only=True)


# --- edits and deletions -----------------------------------------------------------------


def _message_to_change(
    actor: User, conversation_id: int, message_id: int, *, sender_only: bool
) -> Message:
    """Under a lock on the message (which serialises its edits and reactions): one the
    actor may read (and sent, for `sender_only`), not deleted, in a conversation where no
    block stands between the two people of a direct one."""
    conversation, _ = selectors.conversation_for_reader(user=actor, conversation_id=conversation_id)
    message = selectors.message_in(conversation, message_id, lock=True, reader=actor)
    message.conversation = conversation
    if sender_only and message.sender_id != actor.pk:
        raise Forbidden("Only its sender may edit a message.")
    if message.deleted_at is not None:
        raise Forbidden("This message was deleted.")
    _no_block_in_direct(actor, conversation)
    return message


def _no_block_in_direct(actor: User, conversation: Conversation) -> None:
    """In a direct conversation, a block either way stops edits and reactions as it stops
    sends."""
    if conversation.kind != Kind.DIRECT:
        return
    other = (
        conversation.direct_high_id
        if conversation.direct_low_id == actor.pk
        else conversation.direct_low_id
    )
    if other is not None and accounts.blocking_between(user_id=actor.pk, other_id=other):
        raise Blocked()


@transaction.atomic
def message_edit(
    *, actor: User, conversation_id: int, message_id: int, text: str, origin: str | None = None
) -> Message:
    """Replace the text of one's own message within MESSAGE_EDIT_SECONDS of sending it
    (0: no limit); the text it had is kept as a MessageEdit. Its seq stays. Members get
    `messageEdited` after commit (the socket named by `origin` as its answer).

    Raises Invalid (text); NotFound / Forbidden as `conversation_for_reader` for a
    non-member; NotFound for a message of another conversation; Forbidden for someone
    else's message, a deleted one, or past the window; Blocked in a direct conversation
    with a block either way. The same text again changes nothing.
    """
    clean = clean_text(text)
    message = _message_to_change(actor, conversation_id, message_id, sender_only=True)
    now = timezone.now()
    window = settings.MESSAGE_EDIT_SECONDS
    if window and now - message.created_at > timedelta(seconds=window):
        raise Forbidden("The time to edit this message has passed.")
    if clean == message.text:
        return message
    MessageEdit.objects.create(
        message=message,
        text=message.text,
        written_at=message.edited_at or message.created_at,
        replaced_at=now,
    )
    html = _remention(message, formatting.parse(clean))
    Message.objects.filter(pk=message.pk).update(
        text=clean, html=html, edited_at=now, mentions=message.mentions
    )
    message.text, message.html, message.edited_at = clean, html, now
    events.message_edited(message, origin=origin)
    return message


def message_delete(
    *, actor: User, conversation_id: int, message_id: int, origin: str | None = None
) -> Message:
    """Delete a message: its sender may, at any time, and so may the conversation's admins
    and site moderators (`message_tombstone`, recorded in the audit log). A tombstone: the
    text, its earlier versions and its attachments (files too) go, the seq stays. Members
    get `messageDeleted`.

    Raises as `conversation_for_reader` for a non-member who is not a site moderator,
    NotFound for a message of another conversation, Forbidden for someone else's message
    without the right to moderate it. Deleting twice is harmless.
    """
    with transaction.atomic():
        try:
            conversation, _ = selectors.conversation_for_reader(
                user=actor, conversation_id=conversation_id
            )
        except (NotFound, Forbidden):
            if not actor.has_perm(selectors.MODERATE):
                raise
            conversation, _ = selectors.conversation_for_admin(
                user=actor, conversation_id=conversation_id
            )
        message = selectors.message_in(conversation, message_id, lock=True)
        if message.sender_id == actor.pk:
            return _tombstone(message, origin=origin)
    return message_tombstone(actor=actor, message=message, origin=origin)


def _tombstone(message: Message, *, origin: str | None) -> Message:
    """Precondition: the message row is locked. Returns it as it now is."""
    if message.deleted_at is None:
        MessageEdit.objects.filter(message=message).delete()
        Mention.objects.filter(message=message).delete()
        uploads.discard(message_id=message.pk)
        message.text, message.html, message.deleted_at = "", "", timezone.now()
        message.mentions, message.attachments = [], []
        Message.objects.filter(pk=message.pk).update(
            text="", html="", mentions=[], attachments=[], deleted_at=message.deleted_at
        )
        events.message_deleted(message, origin=origin)
    return message


@transaction.atomic
def message_tombstone(*, actor: User, message: Message, origin: str | None = None) -> Message:
    """Moderation: clear the text and mark the message deleted; its seq stays. Returns the
    message as it now is.

    Site moderators (`chat.moderate`) and the conversation's admins may
    (`conversation_for_admin`); each deletion goes to the audit log. Deleting twice is
    harmless.
    """
    _, as_moderator = selectors.conversation_for_admin(
        user=actor, conversation_id=message.conversation_id, lock=True
    )
    current = (
        Message.objects.select_for_update(of=("self",)).select_related("sender").get(pk=message.pk)
    )
    if current.deleted_at is None:
        moderation.record(
            actor=actor,
            action=moderation.Action.MESSAGE_DELETE,
            right=right_of(as_moderator),
            target_user_id=current.sender_id,
            conversation_id=current.conversation_id,
            message_id=current.pk,
        )
    return _tombstone(current, origin=origin)


# --- reactions -----------------------------------------------------------------------------

MAX_DISTINCT_EMOJI = 20


# Each emoji's fully-qualified form by its code points without variation selectors:
# keyboards send "❤" (U+2764) or "❤️" (with U+FE0F) for the same heart, and one chip
# should count both.
_QUALIFIED = {
    form.replace("\ufe0f", ""): form
    for form, data in emoji_data.EMOJI_DATA.items()
    if data["status"] == emoji_data.STATUS["fully_qualified"]
}


def clean_emoji(value: object) -> str:
    """One emoji: a single grapheme cluster of emoji code points (skin tones, ZWJ
    sequences, flags and keycaps included), as the `emoji` package's data knows them, in
    its fully-qualified form."""
    if not isinstance(value, str) or not emoji_data.is_emoji(value):
        raise Invalid(fields={"emoji": ["One emoji."]})
    return _QUALIFIED.get(value.replace("\ufe0f", ""), value)


@transaction.atomic
def reaction_add(
    *, actor: User, conversation_id: int, message_id: int, emoji: str, origin: str | None = None
) -> tuple[Message, bool]:
    """React to a message; returns (message, created). Members get a `reaction` frame
    after commit (the socket named by `origin` as its answer). Again the same: nothing
    changes.

    Raises Invalid (not one emoji, or a 21st different one on this message); NotFound /
    Forbidden as `conversation_for_reader`; NotFound for a message of another
    conversation; Forbidden for a deleted message; Blocked in a direct conversation with
    a block either way.
    """
    clean = clean_emoji(emoji)
    message = _message_to_change(actor, conversation_id, message_id, sender_only=False)
    present = set(Reaction.objects.filter(message=message).values_list("emoji", flat=True))
    if clean not in present and len(present) >= MAX_DISTINCT_EMOJI:
        raise Invalid(
            fields={"emoji": [f"At most {MAX_DISTINCT_EMOJI} different emoji on one message."]}
        )
    _, created = Reaction.objects.get_or_create(message=message, user=actor, emoji=clean)
    if created:
        _reaction_changed(message, clean, actor.pk, "add", origin)
    return message, created


@transaction.atomic
def reaction_remove(
    *, actor: User, conversation_id: int, message_id: int, emoji: str, origin: str | None = None
) -> Message:
    """Take one's reaction back; members get a `reaction` frame with `op` "remove". Not
    there: nothing changes. Raises as `reaction_add`, but for the limit."""
    clean = clean_emoji(emoji)
    message = _message_to_change(actor, conversation_id, message_id, sender_only=False)
    removed, _ = Reaction.objects.filter(message=message, user=actor, emoji=clean).delete()
    if removed:
        _reaction_changed(message, clean, actor.pk, "remove", origin)
    return message


def _reaction_changed(
    message: Message, emoji: str, user_id: int, op: str, origin: str | None
) -> None:
    """The count as of this transaction (the message's lock holds it), and who reacted
    when few did, so that each socket can leave out the users its own user blocks."""
    reacted = Reaction.objects.filter(message=message, emoji=emoji)
    listed = list(reacted.values_list("user_id", flat=True)[: events.REACTORS_LISTED + 1])
    # Few reactors (the usual case) are their own count: one query. Many: counted, not listed.
    reactors: list[int] | None = listed if len(listed) <= events.REACTORS_LISTED else None
    count = len(listed) if reactors is not None else reacted.count()
    events.reaction_changed(message, emoji, user_id, op, count, reactors, origin=origin)


def right_of(as_moderator: bool) -> str:
    """The audit log's name for the right `conversation_for_admin` found."""
    return moderation.Right.SITE_MODERATOR if as_moderator else moderation.Right.CONVERSATION_ADMIN

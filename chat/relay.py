"""Relaying channel-layer events to one socket, in seq order (SPEC section 7).

Each socket keeps, per conversation it follows, the last seq it has passed on
(`cursor`). A relayed message with seq <= cursor is a duplicate and dropped; seq ==
cursor + 1 goes out; a larger seq means events were lost or are late, and the missing ones
are read from the database first. That read is always complete: a seq is assigned under
the conversation's row lock in the inserting transaction, and an event is published only
after its commit, so when seq N is heard every seq below N is committed. A message the
user must not see (blocked sender) moves the cursor without a frame.
"""

import asyncio
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from messaging_site.consumers import ON_CONNECT, RELAYS
from messaging_site.db import db_call
from messaging_site.realtime import conversation_group

from . import events
from .models import Conversation, Membership, Message

FILL_LIMIT = 500
# A revocation not confirmed by its membership event within this long was rolled back.
REVOKE_CONFIRM_SECONDS = 5.0


@dataclass
class Follow:
    """One socket's view of one conversation it is an approved member of."""

    kind: str
    role: str
    cursor: int
    cutoff: int | None = None
    revoked_at: float = 0.0


@dataclass
class ChatState:
    follows: dict[int, Follow] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    # Seqs this socket sent (and acked) per conversation: never echoed back as messages.
    own: dict[int, set[int]] = field(default_factory=dict)
    current_room: int | None = None
    relay_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


# --- database access (each one call on the database thread) -----------------------------


# Raw SQL for the two reads every connect makes: through the ORM they cost 1.7 ms of CPU
# per connect, against 0.3 (docs/PERFORMANCE.md, "Real-time").
STATE_SQL = """
SELECT m.conversation_id, c.kind, m.role
FROM chat_membership AS m
JOIN chat_conversation AS c ON c.id = m.conversation_id
WHERE m.user_id = %(user)s AND m.status = 'approved'
UNION ALL
SELECT b.blocked_id, NULL, NULL FROM accounts_block AS b WHERE b.blocker_id = %(user)s
"""
LAST_SEQS_SQL = "SELECT id, last_seq FROM chat_conversation WHERE id = ANY(%s)"


@db_call
def _memberships_and_blocks(user):
    """(conversation_id, kind, role) of each approved membership, and the blocked ids."""
    with connection.cursor() as cursor:
        cursor.execute(STATE_SQL, {"user": user.pk})
        rows = cursor.fetchall()
    memberships = [row for row in rows if row[1] is not None]
    return memberships, {row[0] for row in rows if row[1] is None}


@db_call
def _last_seqs(conversation_ids):
    if not conversation_ids:
        return {}
    if connection.vendor != "postgresql":  # the SQLite of `make run`'s fallback
        return dict(
            Conversation.objects.filter(pk__in=conversation_ids).values_list("pk", "last_seq")
        )
    with connection.cursor() as cursor:
        cursor.execute(LAST_SEQS_SQL, [list(conversation_ids)])
        return dict(cursor.fetchall())


@db_call
def _messages_between(conversation_id: int, after: int, upto: int | None):
    messages = Message.objects.filter(conversation_id=conversation_id, seq__gt=after)
    if upto is not None:
        messages = messages.filter(seq__lte=upto)
    return list(messages.select_related("sender").order_by("seq")[:FILL_LIMIT])


@db_call
def _still_member(user, conversation_id: int) -> bool:
    return Membership.objects.filter(
        user=user, conversation_id=conversation_id, status=Membership.Status.APPROVED
    ).exists()


# --- connection ---------------------------------------------------------------------------


async def on_connect(consumer) -> None:
    """Join every conversation group first, then read where each stands: anything
    committed later arrives as an event, anything earlier is history (`sync`)."""
    consumer.chat = ChatState()
    rows, consumer.chat.blocked = await _memberships_and_blocks(consumer.user)
    await consumer.join_groups([conversation_group(row[0]) for row in rows])
    last_seqs = await _last_seqs([row[0] for row in rows])
    for conversation_id, kind, role in rows:
        consumer.chat.follows[conversation_id] = Follow(
            kind=kind, role=role, cursor=last_seqs.get(conversation_id, 0)
        )


ON_CONNECT.append(on_connect)


# --- relays -------------------------------------------------------------------------------


async def _pass_on(consumer, follow: Follow, conversation_id: int, seq: int, sender, text):
    follow.cursor = seq
    own = consumer.chat.own.get(conversation_id)
    if own and seq in own:
        own.discard(seq)
        return
    if sender is not None and sender in consumer.chat.blocked:
        return
    await consumer.send(text_data=text)


async def _fill(consumer, conversation_id: int, follow: Follow, upto: int | None) -> None:
    """Pass on, from the database, every message after the cursor up to `upto`."""
    while True:
        messages = await _messages_between(conversation_id, follow.cursor, upto)
        for message in messages:
            if follow.cutoff is not None and message.seq > follow.cutoff:
                return
            frame = events.message_frame(message, follow.kind)
            await _pass_on(
                consumer,
                follow,
                conversation_id,
                message.seq,
                message.sender_id,
                events.encode(frame),
            )
        if len(messages) < FILL_LIMIT:
            return


class FaultInjector:
    """Test-only, off unless WS_FAULT_EVERY is set: every Nth relayed message event in this
    process is delayed by WS_FAULT_DELAY_MS (handed back later, out of order) or, with
    WS_FAULT_MODE=drop, lost, as a slow or lossy channel layer would do."""

    def __init__(self):
        self.seen = 0

    def intercept(self, consumer, event) -> bool:
        """True when the event was taken away from the normal path."""
        every = settings.WS_FAULT_EVERY
        if not every or event.get("_faulted"):
            return False
        self.seen += 1
        if self.seen % every:
            return False
        if settings.WS_FAULT_MODE == "delay":
            late = {**event, "_faulted": True}
            asyncio.get_running_loop().call_later(
                settings.WS_FAULT_DELAY_MS / 1000,
                lambda: asyncio.ensure_future(relay_message(consumer, late)),
            )
        return True


faults = FaultInjector()


async def relay_message(consumer, event):
    if faults.intercept(consumer, event):
        return
    # A delayed event (fault injection) runs beside the consumer's own loop: one at a time.
    async with consumer.chat.relay_lock:
        await _relay_message(consumer, event)


async def _relay_message(consumer, event):
    conversation_id = event["conversation"]
    follow = consumer.chat.follows.get(conversation_id)
    seq = event["seq"]
    if follow is None or seq <= follow.cursor:
        return
    if follow.cutoff is not None and seq > follow.cutoff:
        if time.monotonic() - follow.revoked_at < REVOKE_CONFIRM_SECONDS:
            return
        # The revocation was never confirmed: its transaction rolled back.
        if not await _still_member(consumer.user, conversation_id):
            return
        follow.cutoff = None
    if seq > follow.cursor + 1:
        await _fill(consumer, conversation_id, follow, seq - 1)
    if seq == follow.cursor + 1:
        await _pass_on(consumer, follow, conversation_id, seq, event["sender"], event["text"])


async def relay_frame(consumer, event):
    """A conversation frame for members (receipts, deletions, membership, join requests)."""
    follow = consumer.chat.follows.get(event["conversation"])
    if follow is None or event.get("skip_user") == consumer.user.pk:
        return
    if event.get("admins_only") and follow.role != Membership.Role.ADMIN:
        return
    await consumer.send(text_data=event["text"])


async def relay_user_frame(consumer, event):
    await consumer.send(text_data=event["text"])


async def follow_now(consumer, conversation: Conversation, role: str) -> None:
    """Follow a conversation this socket just created, before answering: join requests and
    messages that come right after must not race the creator's own membership event (pub/
    sub subscriptions take effect when Redis gets to them, not when they are sent)."""
    consumer.chat.follows[conversation.pk] = Follow(
        kind=conversation.kind, role=role, cursor=conversation.last_seq
    )
    await consumer.join_group(conversation_group(conversation.pk))


async def relay_membership(consumer, event):
    """This user's own membership changed: follow or stop following, then tell the socket."""
    conversation_id = event["conversation"]
    follow = consumer.chat.follows.get(conversation_id)
    group = conversation_group(conversation_id)
    if event["status"] == Membership.Status.APPROVED:
        if follow is None or follow.cutoff is not None:
            follow = Follow(kind=event["kind"], role=event["role"], cursor=event["since"])
            consumer.chat.follows[conversation_id] = follow
            await consumer.join_group(group)
            await consumer.send(text_data=event["text"])
            await _fill(consumer, conversation_id, follow, None)
            return
        follow.role = event["role"]
    else:
        consumer.chat.follows.pop(conversation_id, None)
        consumer.chat.own.pop(conversation_id, None)
        if consumer.chat.current_room == conversation_id:
            consumer.chat.current_room = None
        await consumer.leave_group(group)
    await consumer.send(text_data=event["text"])


async def relay_revoke(consumer, event):
    """Sent under the conversation's lock before a removal commits: from here on, nothing
    after `cutoff` reaches this user's sockets."""
    if event["user"] != consumer.user.pk:
        return
    follow = consumer.chat.follows.get(event["conversation"])
    if follow is not None:
        follow.cutoff = event["cutoff"]
        follow.revoked_at = time.monotonic()


async def relay_block(consumer, event):
    if event["blocking"]:
        consumer.chat.blocked.add(event["user"])
    else:
        consumer.chat.blocked.discard(event["user"])


RELAYS.update(
    {
        "chat.message": relay_message,
        "chat.frame": relay_frame,
        "chat.user_frame": relay_user_frame,
        "chat.membership": relay_membership,
        "chat.revoke": relay_revoke,
        "chat.block": relay_block,
    }
)

"""Relaying channel-layer events to one socket, in seq order (docs/REALTIME.md).

Each socket keeps, per conversation it follows, the last seq it has passed on
(`cursor`). A relayed message with seq <= cursor is a duplicate and dropped; seq ==
cursor + 1 goes out; a larger seq means events were lost or are late, and the missing ones
are read from the database first. That read is always complete: a seq is assigned under
the conversation's row lock in the inserting transaction, and an event is published only
after its commit, so when seq N is heard every seq below N is committed. A message the
user must not see (blocked sender) moves the cursor without a frame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from channels.layers import get_channel_layer
from django.conf import settings

from messaging_site import metrics
from messaging_site.consumers import Consumer, Frame
from messaging_site.db import db_call

from . import events, presence, selectors
from .events import conversation_group
from .models import Conversation, Membership

logger = logging.getLogger(__name__)

FILL_LIMIT = 500
# A typing frame this old is not passed on: its socket is behind, and typing is what such
# a socket drops first (clients show it for 5 s; SPEC section 13).
TYPING_STALE_SECONDS = 3.0
# At most one typing frame per socket per conversation this often.
TYPING_EVERY_SECONDS = 2.0
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
    """What one socket knows of the user's conversations (messaging_site.routing)."""

    follows: dict[int, Follow] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    # Seqs this socket sent (and acked) per conversation: never echoed back as messages.
    own: dict[int, set[int]] = field(default_factory=dict)
    current_room: int | None = None
    relay_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # When this socket last announced typing, per conversation (monotonic seconds).
    typed: dict[int, float] = field(default_factory=dict)
    # The presence last passed on per user: a contact in several of the user's
    # conversations is announced in each.
    presences: dict[int, tuple] = field(default_factory=dict)
    # The last membership state announced to this socket per (conversation, user): after
    # an outage the catch-up and a replayed publish may announce the same change twice.
    announced: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)

    def first_time(self, conversation_id: int, user_id: int, status: str, role: str) -> bool:
        """Whether this membership state is news to the socket (and remember it)."""
        key = (conversation_id, user_id)
        if self.announced.get(key) == (status, role):
            return False
        self.announced[key] = (status, role)
        return True

    @classmethod
    async def open(cls, socket: Consumer) -> ChatState:
        """Join every conversation group first, then read where each stands: anything
        committed later arrives as an event, anything earlier is history (`sync`)."""
        state = cls()
        rows, state.blocked = await _followed_and_blocked(user_id=socket.user.pk)
        await socket.join_groups([conversation_group(row[0]) for row in rows])
        last_seqs = await _last_seqs(conversation_ids=[row[0] for row in rows])
        for conversation_id, kind, role in rows:
            state.follows[conversation_id] = Follow(
                kind=kind, role=role, cursor=last_seqs.get(conversation_id, 0)
            )
        return state

    async def close(self, socket: Consumer) -> None:
        return None

    async def catch_up(self, socket: Consumer, since: datetime) -> None:
        """After a channel-layer outage that began after `since`: what the socket missed,
        from the database, as the frames it would have had. The user's memberships gained
        or lost (following or leaving), other members' changes in the conversations it
        follows, blocks, and every message after each cursor, in seq order (the cursors
        drop anything already passed on)."""
        async with self.relay_lock:
            rows, self.blocked = await _followed_and_blocked(user_id=socket.user.pk)
            now = {conversation_id: (kind, role) for conversation_id, kind, role in rows}
            changed = [cid for cid in now if cid not in self.follows or self.follows[cid].cutoff]
            changed += [cid for cid in self.follows if cid not in now]
            changed += [
                cid
                for cid, follow in self.follows.items()
                if cid in now and now[cid][1] != follow.role
            ]
            for membership, from_seq in await _memberships_changed(
                user_id=socket.user.pk, conversation_ids=changed
            ):
                await self._apply(socket, membership, from_seq)
            for conversation_id in [cid for cid in self.follows if cid not in now]:
                self._forget(conversation_id)  # no row any more
                await socket.leave_group(conversation_group(conversation_id))
            for membership in await _memberships_updated(
                conversation_ids=list(self.follows), since=since, except_user=socket.user.pk
            ):
                if self.first_time(
                    membership.conversation_id, membership.user_id, membership.status,
                    membership.role,
                ):  # fmt: skip
                    await socket.send(text_data=events.encode(events.membership_frame(membership)))
            last = await _last_seqs(conversation_ids=list(self.follows))
            for conversation_id, follow in list(self.follows.items()):
                if last.get(conversation_id, 0) > follow.cursor:
                    await _fill(socket, conversation_id, follow, None)

    async def _apply(self, socket: Consumer, membership: Membership, since: int) -> None:
        conversation_id = membership.conversation_id
        follow = self.follows.get(conversation_id)
        text = events.encode(events.membership_frame(membership))
        if membership.status == Membership.Status.APPROVED:
            if follow is None or follow.cutoff is not None:
                kind = membership.conversation.kind
                self.follows[conversation_id] = Follow(
                    kind=kind, role=membership.role, cursor=since
                )
                await socket.join_group(conversation_group(conversation_id))
            else:
                follow.role = membership.role
        elif follow is not None:
            self._forget(conversation_id)
            await socket.leave_group(conversation_group(conversation_id))
        else:
            return
        if self.first_time(conversation_id, membership.user_id, membership.status, membership.role):
            await socket.send(text_data=text)

    def _forget(self, conversation_id: int) -> None:
        self.follows.pop(conversation_id, None)
        self.own.pop(conversation_id, None)
        if self.current_room == conversation_id:
            self.current_room = None


# --- database reads (chat.selectors), each one call on the database threads -----------------

_followed_and_blocked = db_call(selectors.followed_and_blocked)
_last_seqs = db_call(selectors.last_seqs)
_messages_between = db_call(selectors.messages_between)
_is_reader = db_call(selectors.is_reader)
_memberships_changed = db_call(selectors.memberships_changed)
_memberships_updated = db_call(selectors.memberships_updated)
_reaction_count = db_call(selectors.reaction_count)


# --- relays -------------------------------------------------------------------------------


async def _pass_on(
    socket: Consumer, chat: ChatState, follow: Follow, conversation_id: int, seq: int,
    sender: int | None, text: str,
) -> None:  # fmt: skip
    follow.cursor = seq
    own = chat.own.get(conversation_id)
    if own and seq in own:
        own.discard(seq)
        return
    if sender is not None and sender in chat.blocked:
        return
    await socket.send(text_data=text)


async def _fill(socket: Consumer, conversation_id: int, follow: Follow, upto: int | None) -> None:
    """Pass on, from the database, every message after the cursor up to `upto`."""
    chat = socket.state(ChatState)
    while True:
        messages = await _messages_between(
            conversation_id=conversation_id,
            after=follow.cursor,
            upto=upto,
            limit=FILL_LIMIT,
            reader_id=socket.user.pk,
        )
        for message in messages:
            if follow.cutoff is not None and message.seq > follow.cutoff:
                return
            parent = message.reply_to
            hide = parent is not None and parent.sender_id in chat.blocked
            text = events.encode(events.message_frame(message, follow.kind, hide_reply=hide))
            await _pass_on(
                socket, chat, follow, conversation_id, message.seq, message.sender_id, text
            )
        if len(messages) < FILL_LIMIT:
            return


class FaultInjector:
    """Test-only, off unless WS_FAULT_EVERY is set: every Nth relayed message event in this
    process is delayed by WS_FAULT_DELAY_MS (handed back later, out of order) or, with
    WS_FAULT_MODE=drop, lost, as a slow or lossy channel layer would do."""

    def __init__(self):
        self.seen = 0

    def intercept(self, socket: Consumer, event: Frame) -> bool:
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
                lambda: asyncio.ensure_future(relay_message(socket, late)),
            )
        return True


faults = FaultInjector()


async def relay_message(socket: Consumer, event: Frame) -> None:
    """`chat.message`: one message to every member socket, in seq order, gaps filled."""
    if faults.intercept(socket, event):
        return
    chat = socket.state(ChatState)
    # A delayed event (fault injection) runs beside the consumer's own loop: one at a time.
    async with chat.relay_lock:
        await _relay_message(socket, chat, event)


async def _relay_message(socket: Consumer, chat: ChatState, event: Frame) -> None:
    conversation_id = event["conversation"]
    follow = chat.follows.get(conversation_id)
    seq = event["seq"]
    if follow is None or seq <= follow.cursor:
        return
    if follow.cutoff is not None and seq > follow.cutoff:
        if time.monotonic() - follow.revoked_at < REVOKE_CONFIRM_SECONDS:
            return
        # The revocation was never confirmed: its transaction rolled back.
        if not await _is_reader(user_id=socket.user.pk, conversation_id=conversation_id):
            return
        follow.cutoff = None
    if seq > follow.cursor + 1:
        metrics.GAP_FILLS.inc()
        await _fill(socket, conversation_id, follow, seq - 1)
    if seq == follow.cursor + 1:
        text = event["text"]
        if event.get("reply_sender") in chat.blocked:
            text = event["text_reply_hidden"]
        await _pass_on(socket, chat, follow, conversation_id, seq, event["sender"], text)


@dataclass
class PresenceState:
    """This socket's part in its user's presence (chat.presence): it counts as open from
    `open` to `close`, heartbeating meanwhile (`_Heartbeats`). Opened after ChatState,
    whose conversations and blocks an announcement needs."""

    @classmethod
    async def open(cls, socket: Consumer) -> PresenceState:
        await presence_changed(socket, "open")
        _Heartbeats.of_this_loop().sockets.add(socket)
        return cls()

    async def catch_up(self, socket: Consumer, since: datetime) -> None:
        await presence_changed(socket, "beat")

    async def close(self, socket: Consumer) -> None:
        _Heartbeats.of_this_loop().sockets.discard(socket)
        await presence_changed(socket, "close")
        # Offline only once the grace has passed with no socket back (a reload is no news).
        task = asyncio.create_task(_check_later(*_announcing(socket)))
        _checks.add(task)  # held: the loop keeps only a weak reference to a task
        task.add_done_callback(_checks.discard)


class _Heartbeats:
    """One loop per process beating for all its open sockets: a task per socket cost
    every idle socket 2 to 4 KB (bench/ws_fanout.py --idle 10000: 47.6 KB a socket)."""

    _loops: dict[asyncio.AbstractEventLoop, _Heartbeats] = {}

    def __init__(self) -> None:
        self.sockets: set[Consumer] = set()
        self.task = asyncio.create_task(self._run())

    @classmethod
    def of_this_loop(cls) -> _Heartbeats:
        loop = asyncio.get_running_loop()
        found = cls._loops.get(loop)
        if found is None:
            # A new loop (tests run one per test; a server process has one).
            cls._loops = {k: v for k, v in cls._loops.items() if not k.is_closed()}
            found = cls._loops[loop] = cls()
        return found

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(presence.HEARTBEAT_SECONDS)
            for socket in list(self.sockets):
                try:
                    await presence_changed(socket, "beat")
                except Exception:  # Redis away: the next beat tries again
                    logger.warning("presence heartbeat failed", exc_info=True)
                    break


def _announcing(socket: Consumer) -> tuple[int, list[int], list[int]]:
    chat = socket.state(ChatState)
    return socket.user.pk, list(chat.follows), sorted(chat.blocked)


async def _announce(user_id, changed, conversation_ids, hidden_from) -> None:
    if changed is None:
        return
    layer = get_channel_layer()
    for group, event in presence.announcements(user_id, changed, conversation_ids, hidden_from):
        await layer.group_send(group, event)


async def presence_changed(socket: Consumer, op: str) -> None:
    """Apply this socket's `op` to its user's presence and announce what it changed."""
    changed = await asyncio.to_thread(presence.apply, socket.user.pk, op, socket.channel_name)
    await _announce(socket.user.pk, changed, *_announcing(socket)[1:])


_checks: set[asyncio.Task] = set()


async def _check_later(user_id: int, conversation_ids: list[int], hidden_from: list[int]):
    await asyncio.sleep(presence.offline_seconds() + 0.5)
    try:
        changed = await asyncio.to_thread(presence.apply, user_id, "check")
        await _announce(user_id, changed, conversation_ids, hidden_from)
    except Exception:  # the sweep (chat.tasks) announces it then
        logger.warning("presence check after a close failed", exc_info=True)


async def relay_presence(socket: Consumer, event: Frame) -> None:
    """`chat.presence`: to the sockets of those who share a conversation with the user,
    but the user's own and those of users the user blocks (to them, offline is all
    there is); once per change however many conversations announce it."""
    user_id = event["user"]
    if user_id == socket.user.pk or socket.user.pk in event["hidden_from"]:
        return
    chat = socket.state(ChatState)
    known = tuple(event["presence"])
    if chat.presences.get(user_id) == known:
        return
    chat.presences[user_id] = known
    await socket.send(text_data=event["text"])


async def relay_typing(socket: Consumer, event: Frame) -> None:
    """`chat.typing`: to the other members' sockets, not where the user blocks the typist,
    and not once it is stale."""
    chat = socket.state(ChatState)
    if (
        event["user"] == socket.user.pk
        or event["user"] in chat.blocked
        or event["conversation"] not in chat.follows
        or time.time() - event["at"] > TYPING_STALE_SECONDS
    ):
        return
    await socket.send(text_data=event["text"])


async def relay_frame(socket: Consumer, event: Frame) -> None:
    """`chat.frame`: a conversation frame for members (receipts, edits, deletions,
    membership, join requests); one about a message (`after`) as `_after_message` says."""
    chat = socket.state(ChatState)
    follow = chat.follows.get(event["conversation"])
    if follow is None or event.get("skip_user") == socket.user.pk:
        return
    if event.get("admins_only") and follow.role != Membership.Role.ADMIN:
        return
    announced = event.get("membership")
    if announced is not None and not chat.first_time(event["conversation"], *announced):
        return
    if event.get("after") is not None and not await _after_message(socket, chat, event):
        return
    await socket.send(text_data=event["text"])


async def _after_message(socket: Consumer, chat: ChatState, event: Frame) -> bool:
    """Whether a frame about a message goes to this socket, after the message itself: a
    socket that has not passed that seq on yet fills up to it first, so no client hears
    of an edit or a reaction before the message. Not to the socket that made the change
    (it has its answer), nor where the user blocks the message's sender, nor past a
    removal."""
    if event.get("origin") == socket.channel_name or event.get("sender") in chat.blocked:
        return False
    after = event["after"]
    async with chat.relay_lock:
        follow = chat.follows.get(event["conversation"])  # as it is now
        if follow is None or (follow.cutoff is not None and after > follow.cutoff):
            return False
        if after > follow.cursor:
            await _fill(socket, event["conversation"], follow, after)
    return True


async def relay_reaction(socket: Consumer, event: Frame) -> None:
    """`chat.reaction`: someone reacted to a message, or took it back. Not from a user this
    one blocks; the count leaves out the reactions of users this one blocks."""
    chat = socket.state(ChatState)
    if event["reactor"] in chat.blocked or event["conversation"] not in chat.follows:
        return
    if not await _after_message(socket, chat, event):
        return
    text = event["text"]
    if chat.blocked:
        reactors = event["reactors"]
        count = (
            await _reaction_count(
                message_id=event["id"], emoji=event["emoji"], user_id=socket.user.pk
            )
            if reactors is None
            else event["count"] - len(chat.blocked.intersection(reactors))
        )
        if count != event["count"]:
            text = events.encode({**json.loads(text), "count": count})
    await socket.send(text_data=text)


async def relay_user_frame(socket: Consumer, event: Frame) -> None:
    """`chat.user_frame`: a frame for every socket of one user (join answers)."""
    await socket.send(text_data=event["text"])


async def follow_now(socket: Consumer, conversation: Conversation, role: str) -> None:
    """Follow a conversation this socket just created, before answering: join requests and
    messages that come right after must not race the creator's own membership event (pub/
    sub subscriptions take effect when Redis gets to them, not when they are sent)."""
    socket.state(ChatState).follows[conversation.pk] = Follow(
        kind=conversation.kind, role=role, cursor=conversation.last_seq
    )
    await socket.join_group(conversation_group(conversation.pk))


async def relay_membership(socket: Consumer, event: Frame) -> None:
    """`chat.membership`: this user's own membership changed: follow or stop following,
    then tell the socket."""
    chat = socket.state(ChatState)
    async with chat.relay_lock:  # not beside a catch-up's reading of the same follows
        await _relay_membership(socket, chat, event)


async def _relay_membership(socket: Consumer, chat: ChatState, event: Frame) -> None:
    conversation_id = event["conversation"]
    follow = chat.follows.get(conversation_id)
    group = conversation_group(conversation_id)
    news = chat.first_time(conversation_id, socket.user.pk, event["status"], event["role"])
    if event["status"] == Membership.Status.APPROVED:
        if follow is None or follow.cutoff is not None:
            follow = Follow(kind=event["kind"], role=event["role"], cursor=event["since"])
            chat.follows[conversation_id] = follow
            await socket.join_group(group)
            if news:
                await socket.send(text_data=event["text"])
            await _fill(socket, conversation_id, follow, None)
            return
        follow.role = event["role"]
    else:
        chat._forget(conversation_id)
        await socket.leave_group(group)
    if news:
        await socket.send(text_data=event["text"])


async def relay_revoke(socket: Consumer, event: Frame) -> None:
    """`chat.revoke`, published under the conversation's lock before a removal commits
    (tentative: chat.events.membership_revoked): from here on, nothing after `cutoff`
    reaches this user's sockets, unless the removal turns out to have rolled back."""
    if event["user"] != socket.user.pk:
        return
    follow = socket.state(ChatState).follows.get(event["conversation"])
    if follow is not None:
        follow.cutoff = event["cutoff"]
        follow.revoked_at = time.monotonic()


async def relay_block(socket: Consumer, event: Frame) -> None:
    """`accounts.block`: the user blocked or unblocked someone; their messages are hidden
    from this socket from now on, or shown again."""
    blocked = socket.state(ChatState).blocked
    if event["blocking"]:
        blocked.add(event["user"])
    else:
        blocked.discard(event["user"])

"""Conversation reads, already limited to what the user may see.

Access has one vocabulary, used by every interface and by the services under their lock
(docs/ARCHITECTURE.md, "Where each rule lives"):

- `conversation_for_viewer`: a conversation the user may know of: any room (rooms are
  public by name), or one they are an approved member of.
- `conversation_for_reader`: one they read and write in: an approved member.
- `conversation_for_admin`: one they decide for: an approved admin, or a site moderator
  (staff, from Django admin).

Each raises what a user who fails it may be told: NotFound when they may not know the
conversation exists (exactly as for a missing id), Forbidden when they may (a room).

Blocking is applied here, when reading: messages from users the reader blocks are left
out of history (and, in chat.listing, of the inbox, unread counts and last-message
previews), so unblocking shows them again.
"""

from datetime import datetime

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from accounts.models import Block, User
from messaging_site import text as text_rules
from messaging_site.errors import DomainError, Forbidden, Invalid, NotFound

from .models import Conversation, Membership, Mention, Message, MessageEdit, Reaction, Upload
from .reading import REACTIONS_SQL, read_json, read_messages

Kind = Conversation.Kind
Status = Membership.Status
MAX_PAGE = 200
DEFAULT_PAGE = 50
INBOX_MESSAGES = 50


# --- access ----------------------------------------------------------------------------------


def refusal_for_non_member(kind: str) -> DomainError:
    """What a signed-in user who is not an approved member is told: a room is public by
    name, so only that they may not (Forbidden); a group or a direct conversation is never
    confirmed to a stranger (NotFound)."""
    if kind == Kind.ROOM:
        return Forbidden("Only approved members of this room may do this.")
    return NotFound("No such conversation.")


def lock_conversation(*, conversation_id: int) -> Conversation:
    """The conversation, its row locked (`SELECT ... FOR UPDATE`) until the caller's
    transaction ends: what every change to it and every send serialise on. NotFound when
    it does not exist. Precondition: inside `transaction.atomic`."""
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversation_for_viewer(*, user: User, conversation_id: int) -> Conversation:
    """A conversation the user may know of: any room, or one they are an approved member
    of. Anything else is NotFound, exactly as a missing id is."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id)
        .filter(
            Q(kind=Kind.ROOM)
            | Exists(
                Membership.objects.filter(
                    conversation=OuterRef("pk"), user=user, status=Status.APPROVED
                )
            )
        )
        .first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversation_for_reader(
    *, user: User, conversation_id: int, lock: bool = False
) -> tuple[Conversation, Membership]:
    """The conversation and the user's approved membership, or `refusal_for_non_member`.

    One query for a member, the hot path of every history read; more only on refusal.
    With `lock` (services, inside their transaction) the conversation's row is locked
    first and the membership read under the lock.
    """
    if lock:
        conversation = lock_conversation(conversation_id=conversation_id)
        membership = Membership.objects.filter(
            conversation=conversation, user=user, status=Status.APPROVED
        ).first()
        if membership is None:
            raise refusal_for_non_member(conversation.kind)
        membership.conversation = conversation
        return conversation, membership
    membership = (
        Membership.objects.select_related("conversation")
        .filter(user=user, conversation_id=conversation_id, status=Status.APPROVED)
        .first()
    )
    if membership is not None:
        return membership.conversation, membership
    conversation = conversation_for_viewer(user=user, conversation_id=conversation_id)
    raise refusal_for_non_member(conversation.kind)


MODERATE = "chat.moderate"


def conversation_for_admin(
    *, user: User, conversation_id: int, lock: bool = False
) -> tuple[Conversation, bool]:
    """A conversation the user decides for, and whether they do so as a site moderator:
    (conversation, False) for an approved admin of it, (conversation, True) for a holder of
    the `chat.moderate` permission who is not one. Anyone else: a member who is not an
    admin gets Forbidden, a non-member what `conversation_for_reader` answers. Being staff
    grants nothing here: it is only the right to sign in to Django admin."""
    try:
        conversation, membership = conversation_for_reader(
            user=user, conversation_id=conversation_id, lock=lock
        )
    except DomainError:
        if not user.has_perm(MODERATE):
            raise
    else:
        if membership.role == Membership.Role.ADMIN:
            return conversation, False
        if not user.has_perm(MODERATE):
            raise Forbidden("Only an admin of this conversation may do this.")
    if lock:
        return lock_conversation(conversation_id=conversation_id), True
    found = Conversation.objects.filter(pk=conversation_id).first()
    if found is None:
        raise NotFound("No such conversation.")
    return found, True


def is_reader(*, user_id: int, conversation_id: int) -> bool:
    """Whether the user is an approved member right now (a socket double-checking)."""
    return Membership.objects.filter(
        user_id=user_id, conversation_id=conversation_id, status=Status.APPROVED
    ).exists()


# --- details ---------------------------------------------------------------------------------


def _member_count() -> Coalesce:
    approved = (
        Membership.objects.filter(conversation=OuterRef("pk"), status=Status.APPROVED)
        .order_by()
        .values("conversation")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(approved, output_field=IntegerField()), Value(0))


def _with_viewer(conversations: QuerySet[Conversation], user: User) -> QuerySet[Conversation]:
    """`member_count`, and the user's `my_role` / `my_status` (None when not a member)."""
    mine = Membership.objects.filter(conversation=OuterRef("pk"), user=user)
    return conversations.annotate(
        member_count=_member_count(),
        my_role=Subquery(mine.values("role")[:1]),
        my_status=Subquery(mine.values("status")[:1]),
    )


def conversation_detail(*, user: User, conversation_id: int) -> Conversation:
    """`conversation_for_viewer`'s conversation, with `member_count` and the caller's
    `my_role` / `my_status` (or None)."""
    conversation = conversation_for_viewer(user=user, conversation_id=conversation_id)
    return _with_viewer(Conversation.objects.filter(pk=conversation.pk), user).get()


def rooms_search(*, user: User, search: str = "") -> QuerySet[Conversation]:
    """Rooms anyone signed in may ask to join, with member counts and the caller's status.
    A `search` no name could hold (a NUL character...) is Invalid."""
    if (problem := text_rules.character_problem(search)) is not None:
        raise Invalid(fields={"search": [problem]})
    rooms = Conversation.objects.filter(kind=Kind.ROOM)
    if search.strip():
        rooms = rooms.filter(name__icontains=search.strip())
    return _with_viewer(rooms, user)


def members_visible_to(*, membership: Membership, search: str = "") -> QuerySet[Membership]:
    """Approved members; admins also see pending requests; each with `blocks_reader`.
    `search`: only those whose username starts with it, in any case (what the composer's
    @ completes).
    Precondition: `membership` is the reader's approved one (`conversation_for_reader`)."""
    statuses = [Status.APPROVED]
    if membership.role == Membership.Role.ADMIN:
        statuses.append(Status.PENDING)
    members = (
        Membership.objects.filter(conversation_id=membership.conversation_id, status__in=statuses)
        .select_related("user")
        # Whether the member blocks the reader: their presence is then offline to them.
        .annotate(
            blocks_reader=Exists(
                Block.objects.filter(blocker_id=OuterRef("user_id"), blocked_id=membership.user_id)
            )
        )
    )
    if search.strip():
        members = members.filter(user__username__istartswith=search.strip())
    return members


# --- messages --------------------------------------------------------------------------------


def shown_to(user: User, messages: QuerySet[Message]) -> QuerySet[Message]:
    """Messages loaded as `user` reads them through the ORM, one at a time: sender, the
    message answered and its sender, and whether the user blocks that one
    (`reply_hidden`). Pages are read in SQL (chat.reading), with the same columns."""
    # django-stubs takes the annotation for a redefinition of Message.reply_hidden, the
    # plain attribute it fills (False where no read set it).
    return messages.select_related("sender", "reply_to__sender").annotate(  # type: ignore[no-redef]
        reply_hidden=Exists(
            Block.objects.filter(blocker=user, blocked_id=OuterRef("reply_to__sender_id"))
        )
    )


def _cursor(value: int | str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(fields={name: ["A whole number, 0 or more."]}) from None
    if number < 0:
        raise Invalid(fields={name: ["A whole number, 0 or more."]})
    return number


def _page(
    user: User,
    conversation: Conversation,
    after_seq: int | str | None,
    before_seq: int | str | None,
    limit: int | str | None,
) -> tuple[str, dict, int]:
    """Which selection of chat.reading a history page runs, with its parameters and the
    page's size. Raises Invalid for a cursor or limit that is not a whole number in range."""
    after = _cursor(after_seq, "after_seq")
    before = _cursor(before_seq, "before_seq")
    size = DEFAULT_PAGE if limit in (None, "") else _cursor(limit, "limit")
    if size is None or not 1 <= size <= MAX_PAGE:
        raise Invalid(fields={"limit": [f"Between 1 and {MAX_PAGE}."]})
    params = {
        "user": user.pk,
        "conversation": conversation.pk,
        "after": after,
        "before": before,
        # One more than the page: whether more lies beyond it.
        "limit": size + 1,
    }
    if after is not None:
        return ("before_after" if before is not None else "after"), params, size
    return ("before" if before is not None else "newest"), params, size


def _in_seq_order[Row](selection: str, rows: list[Row], size: int) -> tuple[list[Row], bool]:
    """A selection's rows (one more than `size` when more lie beyond) as the page, in
    ascending seq, and whether more lie beyond: the newest and before pages are read
    newest first."""
    page = rows[:size]
    if selection in ("newest", "before"):
        page.reverse()
    return page, len(rows) > size


def message_page(
    *,
    user: User,
    conversation: Conversation,
    after_seq: int | str | None = None,
    before_seq: int | str | None = None,
    limit: int | str | None = None,
) -> tuple[list[Message], bool]:
    """One page of history in ascending seq, and whether more lies beyond it.

    `after_seq`: the messages right after it (catching up); `before_seq`: the ones right
    before it (scrolling back); neither: the newest page. Keyset on (conversation, seq),
    never OFFSET. Messages from users the reader blocks are left out; tombstones are
    included so seq stays gapless for the reader. Each message is loaded as `shown_to` and
    `with_reactions` load it, in one statement. Raises Invalid for a cursor or limit that
    is not a whole number in range.
    Precondition: the user is an approved member (`conversation_for_reader`).
    """
    selection, params, size = _page(user, conversation, after_seq, before_seq, limit)
    return _in_seq_order(selection, read_messages(selection, **params), size)


def message_page_json(
    *,
    user: User,
    conversation: Conversation,
    after_seq: int | str | None = None,
    before_seq: int | str | None = None,
    limit: int | str | None = None,
) -> tuple[str, bool]:
    """`message_page` as the JSON text of its messages in REST's shape
    (chat.serializers.MessageSerializer), built by PostgreSQL: what the REST history
    sends. Same rules, same errors, one statement."""
    selection, params, size = _page(user, conversation, after_seq, before_seq, limit)
    rows, more = _in_seq_order(selection, read_json(selection, **params), size)
    return "[" + ",".join(rows) + "]", more


def with_reactions(*, user_id: int, messages: list[Message]) -> list[Message]:
    """Sets each message's `reaction_summary` as the user sees it
    (chat.reading.reaction_summary_sql). One query for any number of messages."""
    if not messages:
        return messages
    with connection.cursor() as cursor:
        cursor.execute(REACTIONS_SQL, {"user": user_id, "ids": [m.pk for m in messages]})
        summaries = dict(cursor.fetchall())
    for message in messages:
        message.reaction_summary = summaries.get(message.pk, [])
    return messages


def reaction_count(*, message_id: int, emoji: str, user_id: int) -> int:
    """How many reacted with `emoji`, not counting users `user_id` blocks."""
    blocked = Block.objects.filter(blocker_id=user_id).values("blocked_id")
    return (
        Reaction.objects.filter(message_id=message_id, emoji=emoji)
        .exclude(user_id__in=blocked)
        .count()
    )


def mentions_of(*, user: User) -> QuerySet[Mention]:
    """The user's mentions they may still read: in conversations they are an approved
    member of, by no one they block, of messages not deleted. Newest first by id."""
    return (
        Mention.objects.filter(user=user)
        .filter(
            conversation_id__in=Membership.objects.filter(user=user, status=Status.APPROVED).values(
                "conversation_id"
            )
        )
        .exclude(sender_id__in=Block.objects.filter(blocker=user).values("blocked_id"))
        .filter(message__deleted_at__isnull=True)
        .select_related("conversation")
    )


def mention_messages(*, user: User, mentions: list[Mention]) -> list[Mention]:
    """Loads each mention's message as the user reads it (reply excerpt, reactions): one
    query for any number."""
    if not mentions:
        return mentions
    messages = {
        message.pk: message
        for message in read_messages(
            "ids", user=user.pk, ids=[m.message_id for m in mentions], limit=len(mentions)
        )
    }
    for mention in mentions:
        mention.message = messages[mention.message_id]
    return mentions


# Raw SQL: through the ORM this lookup cost 0.87 ms of CPU, more than the rest of what a
# mention adds to a send (bench/send_formatting.py).
_MENTIONABLE_SQL = """
SELECT mb.user_id, lower(u.username), mb.role
FROM accounts_user AS u
JOIN chat_membership AS mb ON mb.user_id = u.id AND mb.conversation_id = %(conversation)s
WHERE mb.status = 'approved' AND (%(everyone)s OR lower(u.username) = ANY(%(names)s))
"""


def mentionable(
    *, conversation_id: int, names: set[str], everyone: bool
) -> list[tuple[int, str, str]]:
    """Approved members as (user id, lower-cased username, role): those named, or all of
    them for `everyone` (the caller checks who may say `@all`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MENTIONABLE_SQL,
            {"conversation": conversation_id, "everyone": everyone, "names": sorted(names)},
        )
        return [tuple(row) for row in cursor.fetchall()]


def message_in(
    conversation: Conversation, message_id: int, *, lock: bool = False, reader: User | None = None
) -> Message:
    """A message of this conversation, with its sender and what it answers (shown as to
    `reader`); any other id is NotFound."""
    messages = Message.objects.select_related("sender", "reply_to__sender")
    if reader is not None:
        messages = shown_to(reader, messages)
    if lock:
        messages = messages.select_for_update(of=("self",))
    message = messages.filter(pk=message_id, conversation=conversation).first()
    if message is None:
        raise NotFound("No such message.")
    return message


def message_edits(*, user: User, conversation_id: int, message_id: int) -> list[MessageEdit]:
    """The texts a message had before its edits, oldest first, for the conversation's
    admins and site moderators (`conversation_for_admin`); anyone else as it answers."""
    conversation, _ = conversation_for_admin(user=user, conversation_id=conversation_id)
    message = message_in(conversation, message_id)
    return list(MessageEdit.objects.filter(message=message).order_by("replaced_at", "id"))


def messages_between(
    *, conversation_id: int, after: int, upto: int | None, limit: int, reader_id: int
) -> list[Message]:
    """Every message (hidden ones too: the caller filters) with after < seq <= upto, in seq
    order, at most `limit`, with reactions as `reader_id` sees them: what a socket fills a
    gap with."""
    return read_messages(
        "between",
        user=reader_id,
        conversation=conversation_id,
        after=after,
        # A bigint bound: seq never reaches it.
        upto=upto if upto is not None else 2**63 - 1,
        limit=limit,
    )


# --- what a socket starts from ---------------------------------------------------------------

# Raw SQL for the two reads every connect makes: through the ORM they cost several times
# the CPU, per connect (bench/results/PERFORMANCE-history.md, "Real-time").
_FOLLOWED_SQL = """
SELECT m.conversation_id, c.kind, m.role
FROM chat_membership AS m
JOIN chat_conversation AS c ON c.id = m.conversation_id
WHERE m.user_id = %(user)s AND m.status = 'approved'
UNION ALL
SELECT b.blocked_id, NULL, NULL FROM accounts_block AS b WHERE b.blocker_id = %(user)s
"""
_LAST_SEQS_SQL = "SELECT id, last_seq FROM chat_conversation WHERE id = ANY(%s)"


def followed_and_blocked(*, user_id: int) -> tuple[list[tuple[int, str, str]], set[int]]:
    """(conversation id, kind, role) of each of the user's approved memberships, and the
    ids of the users they block."""
    with connection.cursor() as cursor:
        cursor.execute(_FOLLOWED_SQL, {"user": user_id})
        rows = cursor.fetchall()
    followed = [row for row in rows if row[1] is not None]
    return followed, {row[0] for row in rows if row[1] is None}


def last_seqs(*, conversation_ids: list[int]) -> dict[int, int]:
    """Each conversation's newest seq."""
    if not conversation_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_LAST_SEQS_SQL, [conversation_ids])
        return dict(cursor.fetchall())


def memberships_changed(
    *, user_id: int, conversation_ids: list[int]
) -> list[tuple[Membership, int]]:
    """The user's memberships of these conversations, each with the seq the conversation
    stood at when it took its current state (its last message before `joined_at`, or
    before the last change): what a socket that missed the change starts from."""
    if not conversation_ids:
        return []
    before = (
        Message.objects.filter(conversation_id=OuterRef("conversation_id"))
        .filter(created_at__lte=Coalesce(OuterRef("joined_at"), OuterRef("updated_at")))
        .order_by("-seq")
        .values("seq")[:1]
    )
    rows = (
        Membership.objects.filter(user_id=user_id, conversation_id__in=conversation_ids)
        .select_related("user", "conversation")
        .annotate(since=Coalesce(Subquery(before, output_field=IntegerField()), Value(0)))
    )
    return [(membership, membership.since) for membership in rows]


def memberships_updated(
    *, conversation_ids: list[int], since: datetime, except_user: int
) -> list[Membership]:
    """Other users' memberships of these conversations changed after `since` (pending
    requests aside: those are admins' join requests), oldest change first."""
    if not conversation_ids:
        return []
    return list(
        Membership.objects.filter(conversation_id__in=conversation_ids, updated_at__gt=since)
        .exclude(user_id=except_user)
        .exclude(status=Membership.Status.PENDING)
        .select_related("user")
        .order_by("updated_at", "id")
    )


# --- attachments ----------------------------------------------------------------------------


def upload_for_download(*, user: User, upload_id: int) -> Upload:
    """An upload the user may download: before a send attaches it, its uploader's only;
    then its message's readers' (approved members, the message not deleted, its sender
    not blocked by the user: what history shows them), and site moderators', who read
    every message in admin. NotFound to everyone else, as for a missing id."""
    if user.has_perm(MODERATE):
        readable = Q(message__isnull=False)
    else:
        readable = Q(
            Q(
                message__deleted_at__isnull=True,
                message__conversation__memberships__user=user,
                message__conversation__memberships__status=Status.APPROVED,
            ),
            ~Exists(Block.objects.filter(blocker=user, blocked_id=OuterRef("message__sender_id"))),
        )
    found = (
        Upload.objects.filter(pk=upload_id)
        .filter(Q(message__isnull=True, uploader=user) | readable)
        .first()
    )
    if found is None:
        raise NotFound("No such file.")
    return found

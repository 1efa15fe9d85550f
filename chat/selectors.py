"""Conversation reads, already limited to what the user may see.

Blocking is applied here, when reading: messages from users the reader blocks are left
out of history, the inbox, unread counts and last-message previews, so unblocking shows
them again.
"""

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Greatest

from accounts.models import Block
from messaging_site.errors import Invalid, NotFound

from .models import Conversation, Membership, Message
from .services import require_member

Kind = Conversation.Kind
Status = Membership.Status
MAX_PAGE = 200
DEFAULT_PAGE = 50
INBOX_MESSAGES = 50


def visible_messages(user) -> QuerySet[Message]:
    """Messages whose sender the user does not block (a vanished sender stays visible)."""
    return Message.objects.exclude(
        Exists(Block.objects.filter(blocker=user, blocked_id=OuterRef("sender_id")))
    )


def conversation_get_for_user(*, user, conversation_id: int) -> Conversation:
    """A conversation the user may know of: any room, or one they are an approved member of.

    Anything else is NotFound, exactly as a missing id is.
    """
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


def conversation_get_for_member(*, user, conversation_id: int) -> tuple[Conversation, Membership]:
    """The conversation and the user's approved membership.

    A room's non-member gets Forbidden (rooms are public by name); anyone else NotFound.
    One query for a member, the hot path of every history read; more only on refusal.
    """
    membership = (
        Membership.objects.select_related("conversation")
        .filter(user=user, conversation_id=conversation_id, status=Status.APPROVED)
        .first()
    )
    if membership is not None:
        return membership.conversation, membership
    conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
    return conversation, require_member(conversation, user)


def conversation_detail(*, user, conversation_id: int) -> Conversation:
    """Details with `member_count` and the caller's `my_role` / `my_status` (or None)."""
    conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
    mine = Membership.objects.filter(conversation=conversation, user=user)
    return (
        Conversation.objects.filter(pk=conversation.pk)
        .annotate(
            member_count=_member_count(),
            my_role=Subquery(mine.values("role")[:1]),
            my_status=Subquery(mine.values("status")[:1]),
        )
        .get()
    )


def _member_count():
    approved = (
        Membership.objects.filter(conversation=OuterRef("pk"), status=Status.APPROVED)
        .order_by()
        .values("conversation")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(approved, output_field=IntegerField()), Value(0))


def hidden_sender_ids(user) -> list[int]:
    """Senders whose messages never count as unread for this user: themself and everyone
    they block. One small query; the list then goes into index conditions as an array."""
    return [user.pk, *Block.objects.filter(blocker=user).values_list("blocked_id", flat=True)]


def _unread(hidden: list[int]):
    """Per approved membership row: messages after its read_seq that the user would see.

    A subtraction, not a count of unread rows: `last_seq - read_seq` less what is hidden
    after the cursor (own messages, blocked senders', tombstones), which two small index
    ranges find. Counting the unread rows themselves costs as many rows as are unread:
    ~200 ms for a member 20,000 messages behind (docs/PERFORMANCE.md).
    """
    not_seen = (
        Message.objects.filter(
            conversation=OuterRef("conversation_id"), seq__gt=OuterRef("read_seq")
        )
        .filter(Q(deleted_at__isnull=False) | Q(sender_id__in=hidden))
        .order_by()
        .values("conversation")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Greatest(
        F("conversation__last_seq")
        - F("read_seq")
        - Coalesce(Subquery(not_seen, output_field=IntegerField()), Value(0)),
        Value(0),
    )


def memberships_for_user(user, *, hidden: list[int] | None = None) -> QuerySet[Membership]:
    """The user's conversations as their approved memberships, most recently active first,
    each with `unread`, `activity` and `last_message_id` (the newest message they may see)."""
    hidden = hidden_sender_ids(user) if hidden is None else hidden
    blocked = hidden[1:]
    last_visible = (
        Message.objects.filter(conversation=OuterRef("conversation_id"))
        .exclude(sender_id__in=blocked)
        .order_by("-seq")
        .values("id")[:1]
    )
    return (
        Membership.objects.filter(user=user, status=Status.APPROVED)
        .select_related("conversation")
        .annotate(
            unread=_unread(hidden),
            activity=Coalesce("conversation__last_message_at", "conversation__created_at"),
            last_message_id=Subquery(last_visible),
        )
    )


def attach_summaries(*, user, memberships: list[Membership]) -> list[Membership]:
    """Load, in two queries for any page size, each row's last message and, for direct
    conversations, the other person (as `peer`)."""
    last_ids = [m.last_message_id for m in memberships if m.last_message_id]
    messages = Message.objects.select_related("sender").in_bulk(last_ids)
    direct_ids = [m.conversation_id for m in memberships if m.conversation.kind == Kind.DIRECT]
    peers = (
        {
            other.conversation_id: other.user
            for other in Membership.objects.filter(conversation_id__in=direct_ids)
            .exclude(user=user)
            .select_related("user")
        }
        if direct_ids
        else {}
    )
    for membership in memberships:
        membership.last_message = messages.get(membership.last_message_id)
        membership.peer = peers.get(membership.conversation_id)
    return memberships


def _cursor(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(fields={name: ["A whole number, 0 or more."]}) from None
    if number < 0:
        raise Invalid(fields={name: ["A whole number, 0 or more."]})
    return number


def message_page(
    *, user, conversation: Conversation, after_seq=None, before_seq=None, limit=None
) -> tuple[list[Message], bool]:
    """One page of history in ascending seq, and whether more lies beyond it.

    `after_seq`: the messages right after it (catching up); `before_seq`: the ones right
    before it (scrolling back); neither: the newest page. Keyset on (conversation, seq),
    never OFFSET. Tombstones are included so seq stays gapless for the reader.
    Precondition: the caller checked the user is an approved member.
    """
    after = _cursor(after_seq, "after_seq")
    before = _cursor(before_seq, "before_seq")
    size = DEFAULT_PAGE if limit in (None, "") else _cursor(limit, "limit")
    if not 1 <= size <= MAX_PAGE:
        raise Invalid(fields={"limit": [f"Between 1 and {MAX_PAGE}."]})

    messages = visible_messages(user).filter(conversation=conversation).select_related("sender")
    if before is not None:
        messages = messages.filter(seq__lt=before)
    if after is not None:
        rows = list(messages.filter(seq__gt=after).order_by("seq")[: size + 1])
        return rows[:size], len(rows) > size
    rows = list(messages.order_by("-seq")[: size + 1])
    return list(reversed(rows[:size])), len(rows) > size


def members_visible_to(*, membership: Membership) -> QuerySet[Membership]:
    """Approved members; admins also see pending requests."""
    statuses = [Status.APPROVED]
    if membership.role == Membership.Role.ADMIN:
        statuses.append(Status.PENDING)
    return Membership.objects.filter(
        conversation_id=membership.conversation_id, status__in=statuses
    ).select_related("user")


def rooms_search(*, user, search: str = "") -> QuerySet[Conversation]:
    """Rooms anyone signed in may ask to join, with member counts and the caller's status."""
    rooms = Conversation.objects.filter(kind=Kind.ROOM)
    if search.strip():
        rooms = rooms.filter(name__icontains=search.strip())
    mine = Membership.objects.filter(conversation=OuterRef("pk"), user=user)
    return rooms.annotate(
        member_count=_member_count(),
        my_status=Subquery(mine.values("status")[:1]),
        my_role=Subquery(mine.values("role")[:1]),
    )

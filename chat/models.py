"""One conversation model for every kind, so ordering, cursors, blocking and paging work
the same for direct messages, groups and rooms."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q

# How a message's sender is named once their account is gone.
DELETED_USER = "deleted user"
# How much of the message it answers a reply shows.
EXCERPT_LENGTH = 200
# Search (chat.search) matches words in this configuration, stemmed ("meetings" finds
# "meeting"), and the last word typed also as a prefix of the words as written.
SEARCH_CONFIG = "english"
PREFIX_CONFIG = "simple"
# The vector of a text `{}`, both ways. "<" and ">" become spaces first: PostgreSQL's parser
# takes anything like a tag for markup and leaves its words out ("<needle>" would not be
# found by "needle").
SEARCH_VECTOR_SQL = (
    f"to_tsvector('{SEARCH_CONFIG}', translate({{0}}, '<>', '  '))"
    f" || to_tsvector('{PREFIX_CONFIG}', translate({{0}}, '<>', '  '))"
)


class Conversation(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct"
        GROUP = "group"
        ROOM = "room"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True, default="")
    # The seq of the newest message. Incremented under this row's lock in the same
    # transaction as the insert, so commit order is seq order.
    last_seq = models.PositiveBigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A direct conversation's two people, lower id first: one conversation per pair.
    direct_low = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    direct_high = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        # Granted in admin to site moderators: the rights of an admin in any group or room
        # (chat.selectors.conversation_for_admin). `is_staff` alone is only the right to
        # sign in to admin.
        permissions = [("moderate", "Can moderate any group or room")]
        constraints = [
            models.UniqueConstraint(
                fields=["direct_low", "direct_high"],
                condition=Q(kind="direct"),
                name="chat_conversation_one_direct_per_pair",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind="direct",
                        direct_low__isnull=False,
                        direct_high__isnull=False,
                        direct_low__lt=F("direct_high"),
                    )
                    | (~Q(kind="direct") & Q(direct_low__isnull=True, direct_high__isnull=True))
                ),
                name="chat_conversation_direct_pair_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "name"], name="chat_conv_kind_name"),
        ]

    def __str__(self):
        return self.name or f"{self.kind} #{self.pk}"


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin"
        MEMBER = "member"

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        REMOVED = "removed"
        BANNED = "banned"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=10, choices=Status.choices)
    delivered_seq = models.PositiveBigIntegerField(default=0)
    read_seq = models.PositiveBigIntegerField(default=0)
    # When the user last became an approved member: "longest-standing" means earliest.
    joined_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="chat_membership_one_per_user"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="chat_membership_user_status"),
            models.Index(
                fields=["conversation", "status", "joined_at"], name="chat_membership_conv_status"
            ),
        ]

    # The member's presence as the reader may see it (chat.presence), where a page sets it.
    presence: str = "offline"

    def __str__(self):
        return f"{self.user} in {self.conversation} ({self.status}, {self.role})"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveBigIntegerField()
    # Users are deactivated rather than deleted; should one ever be removed, the message
    # stays (shown as "deleted user") and no seq goes missing.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    # `text` rendered (chat.formatting) when stored or edited; "" for a tombstone.
    html = models.TextField(blank=True, default="")
    # The members it mentions (chat.formatting: `@username`, `@all` by an admin), as
    # resolved when it was stored or last edited; one Mention row each.
    mentions = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # A message of the same conversation this one answers (checked when sending).
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What it carries (chat.uploads.attachment_shape of each, in the order sent): written
    # once by the send, emptied by a tombstone, so reads need no join.
    attachments = models.JSONField(default=list, db_default=[], blank=True)
    # NULL, not "", when absent: the unique constraint below applies only to real ids.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    # The last edit by its sender (chat.services.message_edit); the texts it replaced are
    # MessageEdit rows.
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # What search matches (chat.search): PostgreSQL computes it in the statement that
    # writes the text, sends, edits and deletes alike, so it is never stale.
    # What search matches (chat.search), kept by a trigger in the statement that writes
    # the text, sends, edits and deletes alike (migration 0010: SEARCH_VECTOR_SQL), so it
    # is never stale. A trigger rather than a GeneratedField: Django checks those against a
    # live database, and `manage.py check` would need one.
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        constraints = [
            # Also the index every history, sync and unread query walks.
            models.UniqueConstraint(fields=["conversation", "seq"], name="chat_message_seq"),
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_client_id",
            ),
        ]
        indexes = [
            # Unread counts subtract what a reader does not see after their cursor: their
            # own messages and their blocked users' (this index) and tombstones (the next).
            models.Index(
                fields=["conversation", "sender", "seq"], name="chat_message_conv_sender_seq"
            ),
            models.Index(
                fields=["conversation", "seq"],
                condition=Q(deleted_at__isnull=False),
                name="chat_message_deleted",
            ),
            # Search within the reader's conversations: the conversation column in the
            # same GIN index (btree_gin) keeps other conversations' matches out of the
            # bitmap. No pending list (fastupdate): merging it stalled every send waiting
            # behind the one that filled it, p99 5.5 times the stock view's
            # (bench/results/rest_send_search_index_2026-12-03b.txt).
            GinIndex(
                fields=["conversation", "search_vector"],
                name="chat_message_search",
                fastupdate=False,
            ),
        ]

    # Whether the reader blocks the sender of the message this one answers: set by the
    # reads that show replies (chat.selectors), so the excerpt can be hidden.
    reply_hidden: bool = False
    # [{emoji, count, me}] as one reader sees them (chat.selectors.with_reactions); None
    # where no read set it.
    reaction_summary: list[dict] | None = None

    def __str__(self):
        return f"#{self.seq} in {self.conversation_id}"


class MessageEdit(models.Model):
    """A text a message had before an edit, kept for the conversation's admins and site
    moderators; removed with the text when the message is deleted."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits")
    text = models.TextField(blank=True)
    # When this text was written: the message's creation, or the edit before.
    written_at = models.DateTimeField()
    # When an edit replaced it.
    replaced_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["message", "replaced_at"], name="chat_edit_message")]

    def __str__(self):
        return f"edit of {self.message_id} at {self.replaced_at:%Y-%m-%d %H:%M:%S}"


class Reaction(models.Model):
    """One user's emoji on one message (chat.services.reaction_add)."""

    # No index of its own: both below lead with it.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="reactions", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # One emoji: a single grapheme cluster, ZWJ sequences and flags included (at most a
    # few dozen bytes; 64 characters is ample).
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_once_per_user"
            ),
        ]
        indexes = [
            # The summary every read shows (chat.reading.reaction_summary_sql) from the
            # index alone, already grouped by emoji: on the inbox's 360 messages, 3 to 4 ms
            # less than the message index and a sort per message.
            models.Index(
                fields=["message", "emoji", "created_at"],
                include=["user"],
                name="chat_reaction_summary",
            ),
        ]

    def __str__(self):
        return f"{self.emoji} by {self.user_id} on {self.message_id}"


class Mention(models.Model):
    """A member named in a message: what `unread_mentions` counts (after the member's
    read cursor, not by users they block) and `GET /api/mentions/` lists."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The message's, copied so that counting needs no join.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="chat_mention_once"),
        ]
        indexes = [
            models.Index(fields=["user", "conversation", "seq"], name="chat_mention_unread"),
            models.Index(fields=["user", "-id"], name="chat_mention_recent"),
        ]

    def __str__(self):
        return f"{self.user_id} in {self.message_id}"


class Upload(models.Model):
    """A file someone uploaded (chat.uploads.upload_create): only its uploader's until a
    send attaches it to a message, then its message's readers'. Its bytes are in the
    "attachments" storage (settings.STORAGES), under random names."""

    # Kept with the message if the account ever goes; an unattached one goes with it.
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads"
    )
    # Its place among its message's attachments.
    position = models.PositiveSmallIntegerField(default=0)
    # As the uploader's device named it (chat.uploads.clean_file_name); never a path here.
    name = models.CharField(max_length=255)
    # Of the stored bytes (an image's without its metadata).
    size = models.PositiveBigIntegerField()
    # Read from the bytes (libmagic), not from the name or the client's header.
    content_type = models.CharField(max_length=127)
    file = models.CharField(max_length=255)
    # A WebP image of at most chat.uploads.THUMBNAIL_SIZE, for images only.
    thumbnail = models.CharField(max_length=255, blank=True, default="")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The sweep of uploads no message took (chat.uploads.sweep).
            models.Index(
                fields=["created_at"],
                condition=Q(message__isnull=True),
                name="chat_upload_unattached",
            ),
        ]

    def __str__(self):
        return self.name

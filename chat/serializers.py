"""Shapes only. Lengths and states are checked by chat.services, the one authority."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging_site.converters import MAX_ID
from messaging_site.fields import TextField

from .events import reply_of
from .models import DELETED_USER, Conversation, Membership, Message, MessageEdit
from .presence import OFFLINE, STATUSES
from .services import MAX_CLIENT_ID_LENGTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from .uploads import MAX_ATTACHMENTS


class ReplyToSerializer(serializers.Serializer):
    """What a reply shows of the message it answers (chat.events.reply_of)."""

    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    sender_username = TextField()
    excerpt = TextField()


class ReactionSummarySerializer(serializers.Serializer):
    emoji = TextField()
    count = serializers.IntegerField()
    me = serializers.BooleanField()


class AttachmentSerializer(serializers.Serializer):
    """A file a message carries (chat.uploads.attachment_shape); also what an upload
    answers."""

    id = serializers.IntegerField()
    name = TextField()
    size = serializers.IntegerField(help_text="bytes")
    content_type = TextField(help_text="read from the bytes, not from the name")
    url = TextField(help_text="the file; only its message's readers may get it")
    thumbnail_url = TextField(allow_null=True, help_text="PNG, JPEG, GIF and WebP only")
    width = serializers.IntegerField(allow_null=True, help_text="images only, in pixels")
    height = serializers.IntegerField(allow_null=True, help_text="images only, in pixels")


class UploadCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="at most UPLOAD_MAX_BYTES (25 MiB by default)")


class MessageSerializer(serializers.ModelSerializer):
    """Precondition: loaded as its reader reads it (chat.selectors.shown_to and
    with_reactions)."""

    sender = serializers.IntegerField(source="sender_id", allow_null=True)
    sender_username = serializers.SerializerMethodField()
    conversation = serializers.IntegerField(source="conversation_id")
    reply_to = serializers.SerializerMethodField()
    reactions = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "seq",
            "sender",
            "sender_username",
            "text",
            "html",
            "client_id",
            "created_at",
            "edited_at",
            "deleted_at",
            "reply_to",
            "reactions",
            "mentions",
            "attachments",
        ]

    def get_sender_username(self, message) -> str:
        return message.sender.username if message.sender_id else DELETED_USER

    @extend_schema_field(ReplyToSerializer(allow_null=True))
    def get_reply_to(self, message) -> dict | None:
        return reply_of(message, hidden=message.reply_hidden)

    @extend_schema_field(ReactionSummarySerializer(many=True))
    def get_reactions(self, message) -> list[dict]:
        return message.reaction_summary or []


class MentionSerializer(serializers.Serializer):
    """One of the caller's mentions: where, and the message (as they read it)."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    conversation_kind = TextField(source="conversation.kind")
    conversation_name = TextField(source="conversation.name")
    message = MessageSerializer()


class ReactionCreateSerializer(serializers.Serializer):
    emoji = TextField(max_length=64)


class PeerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = TextField()
    name = TextField()


class SearchConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = TextField()
    name = TextField()
    peer = PeerSerializer(allow_null=True)


class SearchResultSerializer(serializers.Serializer):
    """Shape only (chat.search builds the JSON)."""

    message = MessageSerializer()
    highlight = TextField(help_text="the text, HTML-escaped, with <mark> around the matches")
    conversation = SearchConversationSerializer()


class ConversationSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField()
    role = TextField(source="my_role", allow_null=True)
    status = TextField(source="my_status", allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "kind",
            "name",
            "created_by",
            "created_at",
            "last_seq",
            "last_message_at",
            "member_count",
            "role",
            "status",
        ]


class ConversationListItemSerializer(serializers.Serializer):
    """One of the caller's conversations, as chat.listing's statement builds it: this class
    describes the shape for the schema (chat/tests/test_listing.py holds the two equal)."""

    id = serializers.IntegerField(source="conversation_id")
    kind = TextField(source="conversation.kind")
    name = TextField(source="conversation.name")
    peer = PeerSerializer(allow_null=True)
    role = TextField()
    unread = serializers.IntegerField()
    unread_mentions = serializers.IntegerField()
    last_seq = serializers.IntegerField(source="conversation.last_seq")
    read_seq = serializers.IntegerField()
    delivered_seq = serializers.IntegerField()
    last_message = MessageSerializer(allow_null=True)
    last_message_at = serializers.DateTimeField(
        source="conversation.last_message_at", allow_null=True
    )
    created_at = serializers.DateTimeField(source="conversation.created_at")


class InboxItemSerializer(serializers.Serializer):
    """An inbox entry, as chat.listing builds it (described here for the schema)."""

    conversation = ConversationListItemSerializer(source="*")
    unread = serializers.IntegerField()
    messages = MessageSerializer(many=True)


class RoomSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField()
    role = TextField(source="my_role", allow_null=True)
    status = TextField(source="my_status", allow_null=True)

    class Meta:
        model = Conversation
        fields = ["id", "kind", "name", "created_at", "member_count", "role", "status"]


class MemberSerializer(serializers.ModelSerializer):
    """`presence` and `last_seen` from the context's `presence` (chat.presence.visible_to,
    by user id): the member's presence as the reader may see it."""

    user_id = serializers.IntegerField()
    username = TextField(source="user.username")
    presence = serializers.SerializerMethodField()
    last_seen = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "status", "presence", "last_seen"]

    def _presence(self, membership):
        return self.context["presence"].get(membership.user_id, OFFLINE)

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_presence(self, membership) -> str:
        return self._presence(membership).status

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_seen(self, membership) -> str | None:
        return self._presence(membership).last_seen_iso()


class PresenceSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=STATUSES)
    last_seen = serializers.DateTimeField(allow_null=True)


class ConversationCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[Conversation.Kind.GROUP, Conversation.Kind.ROOM])
    name = TextField(max_length=MAX_NAME_LENGTH)


class MessageCreateSerializer(serializers.Serializer):
    text = TextField(
        max_length=MAX_TEXT_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="1..10,000 characters; may be empty when the message carries attachments",
    )
    client_id = TextField(
        max_length=MAX_CLIENT_ID_LENGTH, required=False, allow_null=True, allow_blank=True
    )
    reply_to = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID,
        help_text="the id of a message of the same conversation that this one answers",
    )  # fmt: skip
    attachments = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        help_text=f"at most {MAX_ATTACHMENTS} ids of your uploads (POST /api/uploads/) that "
        "no message carries yet",
    )


class MessageUpdateSerializer(serializers.Serializer):
    text = TextField(max_length=MAX_TEXT_LENGTH)


class MessageEditSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageEdit
        fields = ["text", "written_at", "replaced_at"]


class DirectMessageCreateSerializer(MessageCreateSerializer):
    user_id = serializers.IntegerField(min_value=1)


class MemberAddSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class ReadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()


class JoinResponseSerializer(serializers.Serializer):
    status = TextField()

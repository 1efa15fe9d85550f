"""Shapes only: types, required fields, lengths. Rules live in services."""

from rest_framework import serializers

from messaging_site.converters import MAX_ID
from messaging_site.fields import TextField

from .models import BOARD_NAME_MAX_LENGTH, DATA_MAX_LENGTH, TOPIC_MAX_LENGTH, Board, BoardMessage

MESSAGES_PAGE_DEFAULT = 50
MESSAGES_PAGE_MAX = 200


class BoardInputSerializer(serializers.Serializer):
    name = TextField(max_length=BOARD_NAME_MAX_LENGTH)


class BoardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Board
        fields = ["id", "name", "locked", "created_by", "created_at"]


class BoardDetailSerializer(BoardSerializer):
    message_count = serializers.IntegerField(read_only=True)

    class Meta(BoardSerializer.Meta):
        fields = [*BoardSerializer.Meta.fields, "message_count"]


class BoardMessageInputSerializer(serializers.Serializer):
    topic = TextField(max_length=TOPIC_MAX_LENGTH)
    # The Message Board design's field name; DRF's metaclass moves declared fields off the
    # class, so it does not hide Serializer.data.
    data = TextField(max_length=DATA_MAX_LENGTH)  # type: ignore[assignment]


class BoardMessageSerializer(serializers.ModelSerializer):
    username = TextField(source="user.username", read_only=True)

    class Meta:
        model = BoardMessage
        fields = ["id", "topic", "data", "board", "user", "username", "created_at"]


class BoardMessagesQuerySerializer(serializers.Serializer):
    topic = TextField(required=False, allow_blank=True, max_length=TOPIC_MAX_LENGTH)
    user = serializers.IntegerField(source="user_id", required=False, min_value=1, max_value=MAX_ID)
    before = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    limit = serializers.IntegerField(
        min_value=1, max_value=MESSAGES_PAGE_MAX, default=MESSAGES_PAGE_DEFAULT
    )

    def validate_topic(self, value):
        # `?topic=` left blank by a form means no topic filter, not "posts with no topic".
        return value or None


class BoardMessagePageSerializer(serializers.Serializer):
    """Newest first. `next` asks for the older posts; `previous` is always null."""

    results = BoardMessageSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

BOARD_NAME_MAX_LENGTH = 100
TOPIC_MAX_LENGTH = 60
DATA_MAX_LENGTH = 10_000


class Board(models.Model):
    """A public message board: every signed-in user reads and posts."""

    name = models.CharField(max_length=BOARD_NAME_MAX_LENGTH)
    # Boards outlive their creators' accounts; the creator is informational only.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="boards_created",
    )
    locked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("moderate", "Can lock and unlock boards")]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="boards_board_name_ci_unique",
                violation_error_message="A board with that name already exists.",
            ),
        ]

    def __str__(self):
        return self.name


class BoardMessage(models.Model):
    """A post on a board. Moderators delete posts outright; boards keep no tombstones."""

    # No index of its own: every index below starts with `board`.
    board = models.ForeignKey(
        Board, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # Users are deactivated, never deleted, so a post always keeps its author.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="board_messages"
    )
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH)
    data = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # One index per read path of the messages endpoint, each in its keyset order
        # (newest first by id), so a page is an index range scan whatever the filters.
        indexes = [
            models.Index(fields=["board", "-id"], name="boards_msg_board_id"),
            models.Index(fields=["board", "topic", "-id"], name="boards_msg_board_topic_id"),
            models.Index(fields=["board", "user", "-id"], name="boards_msg_board_user_id"),
        ]

    def __str__(self):
        return f"{self.topic} ({self.board_id})"

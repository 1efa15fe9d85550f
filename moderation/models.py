"""The audit log of moderation: who decided what about whom, by which right."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One moderation act, written in the transaction of the act itself (so an act that
    rolls back leaves no entry, and none commits without one). Objects are named by id, not
    by foreign key: the log outlives what it names and depends on no app but accounts."""

    class Action(models.TextChoices):
        MEMBER_ADD = "member_add", "added a member"
        MEMBER_APPROVE = "member_approve", "approved a join request"
        MEMBER_REJECT = "member_reject", "rejected a join request"
        MEMBER_REMOVE = "member_remove", "removed a member"
        MEMBER_BAN = "member_ban", "banned a user"
        MEMBER_ROLE = "member_role", "changed a member's role"
        MESSAGE_DELETE = "message_delete", "deleted a message"
        BOARD_LOCK = "board_lock", "locked a board"
        BOARD_UNLOCK = "board_unlock", "unlocked a board"
        USER_DEACTIVATE = "user_deactivate", "deactivated a user"
        TOKEN_REVOKE = "token_revoke", "revoked an API token"

    class Right(models.TextChoices):
        """What allowed the act: being the conversation's admin, or a site permission."""

        CONVERSATION_ADMIN = "conversation_admin", "conversation admin"
        SITE_MODERATOR = "site_moderator", "site moderator"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    right = models.CharField(max_length=32, choices=Right.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    board_id = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.actor} {self.get_action_display()}"

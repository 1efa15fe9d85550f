from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class CaseInsensitiveUserManager(UserManager):
    def get_by_natural_key(self, username):
        # Usernames are unique regardless of case, so "Alice" signs in as "alice".
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A person. Deactivated (`is_active=False`), never deleted, so history keeps its senders."""

    # Removed: a person has one `name` (django-stubs types the fields AbstractUser declares).
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    name = models.CharField(max_length=100, blank=True, default="")
    email = models.EmailField(blank=True, default="")

    objects: ClassVar[CaseInsensitiveUserManager] = CaseInsensitiveUserManager()

    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with that email already exists.",
            ),
        ]

    def __str__(self):
        return self.username

    def get_full_name(self):
        return self.name or self.username

    def get_short_name(self):
        return self.name or self.username


class Block(models.Model):
    """`blocker` blocks `blocked`. Read both ways by the chat rules (docs/ARCHITECTURE.md,
    "Where each rule lives")."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="accounts_block_unique"),
            models.CheckConstraint(
                condition=~models.Q(blocker=models.F("blocked")),
                name="accounts_block_not_self",
            ),
        ]
        # The reverse direction ("who blocks me") is looked up on every delivery.
        indexes = [models.Index(fields=["blocked", "blocker"], name="accounts_block_reverse")]

    def __str__(self):
        return f"{self.blocker} blocks {self.blocked}"

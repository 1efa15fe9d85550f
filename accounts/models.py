from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from rest_framework.authtoken.models import TokenProxy

# How much of an API token its owner and admin see.
TOKEN_PREFIX_LENGTH = 8


def token_prefix(key: str) -> str:
    """What a token is shown as, to its owner and in admin: enough to tell tokens apart,
    never enough to use one (8 of 40 hex digits)."""
    return key[:TOKEN_PREFIX_LENGTH]


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
    # Bumped by "sign out everywhere": part of the session hash, so every session signed
    # in before it stops being valid on its next request, wherever it is.
    sessions_version = models.PositiveIntegerField(default=0, editable=False)

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

    def get_session_auth_hash(self):
        """Django's hash (the password's), with `sessions_version` in it: Django and
        Channels check it on every request and handshake and drop a session whose hash
        no longer matches, as they do after a password change. Until the first sign-out
        everywhere it is Django's own, so sessions from before this field stay valid."""
        if not self.sessions_version:
            return super().get_session_auth_hash()
        return self._versioned_session_hash(settings.SECRET_KEY)

    def get_session_auth_fallback_hash(self):
        """The same hash under each of SECRET_KEY_FALLBACKS, as Django's, so that a key
        rotation does not bring back sessions signed out everywhere."""
        if not self.sessions_version:
            yield from super().get_session_auth_fallback_hash()
            return
        for secret in settings.SECRET_KEY_FALLBACKS:
            yield self._versioned_session_hash(secret)

    def _versioned_session_hash(self, secret: str | bytes) -> str:
        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.sessions_version}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    def get_full_name(self):
        return self.name or self.username

    def get_short_name(self):
        return self.name or self.username


class ApiToken(TokenProxy):
    """DRF's token as admin shows it: by user id in its URLs (TokenProxy's `pk`) and by
    prefix in its lists, messages and history, so no page or log entry holds a whole key."""

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self):
        return f"{token_prefix(self.key)}…"


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

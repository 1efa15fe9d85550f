"""Account rules: registration, tokens, blocks, deactivation. Every interface calls these."""

from collections.abc import Iterable

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework.authtoken.models import Token

from messaging_site import text as text_rules
from messaging_site.db import id_batches
from messaging_site.errors import Invalid, NotFound
from moderation import services as moderation

from . import events
from .models import Block, User
from .tokens import token_prefix

USERNAME_TAKEN = "A user with that username already exists."
EMAIL_TAKEN = "A user with that email already exists."
USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length or 150
NAME_MAX_LENGTH = User._meta.get_field("name").max_length or 100


def username_errors(username: str) -> list[str]:
    """What is wrong with `username` as a new user's, case and uniqueness aside: letters,
    digits and @ . + - _ only (Django's validator), so that no name looks like another
    through invisible or direction-changing characters, and none carries markup."""
    errors = text_rules.length_errors(username, max_length=USERNAME_MAX_LENGTH)
    if errors:
        return errors
    try:
        User.username_validator(username)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def user_register(*, username: str, password: str, email: str = "", name: str = "") -> User:
    """Create an active user and their API token.

    Raises Invalid (field errors) when the username is not one (`username_errors`) or is
    taken, case-insensitively, as the email may be; when the name is over its limit; or
    when Django's password validators refuse the password. Nothing is written then. Every
    sign-up door (REST, the web page) comes here, so all of them take the same names.
    """
    email = User.objects.normalize_email(email.strip()) if email else ""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if problems := username_errors(username):
        errors["username"] = problems
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = [USERNAME_TAKEN]
    if name and (problems := text_rules.length_errors(name, max_length=NAME_MAX_LENGTH)):
        errors["name"] = problems
    if email and User.objects.filter(email__iexact=email).exists():
        errors["email"] = [EMAIL_TAKEN]
    candidate = User(username=username, email=email, name=name)
    try:
        password_validation.validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise Invalid(fields=errors)

    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
            Token.objects.create(user=candidate)
    except IntegrityError as exc:
        # Two sign-ups raced past the checks above; the constraints decided.
        field = "email" if "email" in str(exc) else "username"
        raise Invalid(
            fields={field: [EMAIL_TAKEN if field == "email" else USERNAME_TAKEN]}
        ) from exc
    return candidate


def token_for_credentials(*, username: str, password: str) -> Token:
    """The user's API token, created on first use. Wrong or inactive credentials: Invalid."""
    user = authenticate(username=username, password=password)
    if user is None:
        raise Invalid(fields={"non_field_errors": ["Unable to log in with provided credentials."]})
    token, _ = Token.objects.get_or_create(user=user)
    return token


def block_create(*, blocker: User, blocked_id: int) -> tuple[Block, bool]:
    """Block a user; blocking again is harmless. Returns (block, created).

    Raises Invalid for yourself, NotFound for an unknown user.
    """
    if blocked_id == blocker.pk:
        raise Invalid(fields={"user_id": ["You cannot block yourself."]})
    blocked = User.objects.filter(pk=blocked_id).first()
    if blocked is None:
        raise NotFound("No such user.")
    block, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    if created:
        events.block_changed(blocker_id=blocker.pk, blocked_id=blocked.pk, blocking=True)
    return block, created


def block_delete(*, blocker: User, blocked_id: int) -> None:
    """Unblock. Unblocking someone not blocked is harmless; an unknown user is NotFound."""
    if not User.objects.filter(pk=blocked_id).exists():
        raise NotFound("No such user.")
    deleted, _ = Block.objects.filter(blocker=blocker, blocked_id=blocked_id).delete()
    if deleted:
        events.block_changed(blocker_id=blocker.pk, blocked_id=blocked_id, blocking=False)


@transaction.atomic
def token_revoke(*, user: User, prefix: str) -> None:
    """Revoke the user's API token named by its prefix: it stops working at once, the
    sockets it opened close, and the next sign-in through the API makes a new one.
    Another user's token, or none, is NotFound."""
    token = Token.objects.filter(user=user).first()
    if token is None or token_prefix(token.key) != prefix:
        raise NotFound("No such token.")
    token.delete()
    events.signed_out(user.pk, only="token")


@transaction.atomic
def tokens_revoke(*, actor: User, tokens: Iterable[Token]) -> int:
    """A moderator revokes tokens (Django admin): each stops working, the sockets it
    opened close, and the act goes to the audit log. Returns how many there were."""
    revoked = 0
    for token in tokens:
        if Token.objects.filter(key=token.key).delete()[0]:
            revoked += 1
            moderation.record(
                actor=actor,
                action=moderation.Action.TOKEN_REVOKE,
                right=moderation.Right.SITE_MODERATOR,
                target_user_id=token.user_id,
                detail=token_prefix(token.key),
            )
            events.signed_out(token.user_id, only="token")
    return revoked


@transaction.atomic
def sign_out_everywhere(*, user: User) -> None:
    """Every session of the user ends (in every browser, this one too), the API token is
    revoked, and every open socket closes."""
    User.objects.filter(pk=user.pk).update(sessions_version=F("sessions_version") + 1)
    Token.objects.filter(user=user).delete()
    events.signed_out(user.pk)


@transaction.atomic
def users_deactivate(*, actor: User, users: Iterable[User]) -> int:
    """Deactivate users: sign-in, sessions and tokens stop working, open sockets close.
    Each one that was active goes to the audit log as `actor`'s act.

    Returns how many were active before.
    """
    user_ids = [user.pk for user in users]
    changed = 0
    for batch in id_batches(user_ids):
        # Locked: two deactivations at once count (and log) each user once.
        deactivated = list(
            User.objects.select_for_update()
            .filter(pk__in=batch, is_active=True)
            .values_list("pk", flat=True)
        )
        changed += User.objects.filter(pk__in=deactivated).update(is_active=False)
        Token.objects.filter(user_id__in=batch).delete()
        for user_id in deactivated:
            moderation.record(
                actor=actor,
                action=moderation.Action.USER_DEACTIVATE,
                right=moderation.Right.SITE_MODERATOR,
                target_user_id=user_id,
            )
    events.users_deactivated(user_ids)
    return changed

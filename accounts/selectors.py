"""Account reads, already limited to what the caller may see."""

from django.db.models import Q, QuerySet

from messaging_site.errors import NotFound

from .models import Block, User


def user_lookup(*, email: str | None = None, username: str | None = None) -> QuerySet[User]:
    """Active users whose email or username equals the given one, ignoring case."""
    users = User.objects.filter(is_active=True).only("id", "username", "name")
    if email is not None:
        users = users.filter(email__iexact=email.strip())
    if username is not None:
        users = users.filter(username__iexact=username.strip())
    return users


def user_get(*, user_id: int) -> User:
    """A user's public profile. Deactivated users stay visible: their messages remain."""
    user = User.objects.filter(pk=user_id).only("id", "username", "name").first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_get_active(*, user_id: int) -> User:
    """An active user, someone one may message or add; anyone else is NotFound."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_get_by_username(*, username: str, active_only: bool = True) -> User | None:
    """The user called `username`, ignoring case and surrounding spaces: an active one
    unless `active_only` is off (a decision about someone's past request)."""
    users = User.objects.filter(username__iexact=username.strip())
    if active_only:
        users = users.filter(is_active=True)
    return users.first()


def blocks_made_by(*, user: User) -> QuerySet[Block]:
    return Block.objects.filter(blocker=user).select_related("blocked")


def blocking_between(*, user_id: int, other_id: int) -> bool:
    """True while either user blocks the other."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()

"""Account reads, already limited to what the caller may see."""

from django.db.models import QuerySet

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


def blocks_made_by(*, user: User) -> QuerySet[Block]:
    return Block.objects.filter(blocker=user).select_related("blocked")

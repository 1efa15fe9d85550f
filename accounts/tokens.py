"""API tokens to users: the one lookup behind REST (`accounts.authentication`) and socket
(`messaging_site.websocket`) token authentication.

Every token-authenticated request runs it, so it is one statement that a connection
prepares once, instead of the ORM's `select_related` query, whose building and row
loading cost more than the lookup itself (docs/PERFORMANCE.md, "What the product's own
choices buy").
"""

from django.db import connection
from rest_framework.authtoken.models import Token

from .models import TOKEN_PREFIX_LENGTH, User, token_prefix

__all__ = ["TOKEN_PREFIX_LENGTH", "token_prefix", "tokens_of", "user_for_token"]


_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_COLUMNS = ", ".join(f'u."{field.column}"' for field in User._meta.concrete_fields)
_USER_BY_TOKEN = (  # names from model metadata; the key is a parameter
    f'SELECT t.created, {_COLUMNS} FROM "{Token._meta.db_table}" AS t '  # noqa: S608
    f'JOIN "{User._meta.db_table}" AS u ON u.id = t.user_id WHERE t.key = %s'
)


def tokens_of(user: User) -> list[dict]:
    """The user's API tokens as their owner sees them: prefix and creation, never the key.
    (DRF's tokens: one per user at most; signing in through the API makes it.)"""
    return [
        {"prefix": token_prefix(key), "created": created}
        for key, created in Token.objects.filter(user=user).values_list("key", "created")
    ]


def user_for_token(key: str) -> tuple[User, Token] | None:
    """The user holding API token `key`, active or not (callers decide), and the token."""
    with connection.cursor() as cursor:
        cursor.execute(_USER_BY_TOKEN, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    created, *values = row
    user = User.from_db(connection.alias, _USER_FIELDS, values)
    token = Token.from_db(connection.alias, ["key", "user_id", "created"], [key, user.pk, created])
    token.user = user
    return user, token

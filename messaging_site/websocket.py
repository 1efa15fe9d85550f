"""WebSocket handshake rules (docs/PROTOCOL.md, "Connection").

- A handshake that carries `Origin` must come from one of our hosts (ALLOWED_HOSTS): this
  stops cross-site WebSocket hijacking with the session cookie.
- Without `Origin` (wscat, a mobile app, a server) the handshake passes, but then only a
  token authenticates it: a browser always sends `Origin`, so a cookie without one is not
  a browser we can vouch for and is ignored.
- Credentials: `?token=<key>`, `Authorization: Token <key>`, or the session cookie.
  Anything else is anonymous; the consumer accepts and closes those with 4401.

Channels' AllowedHostsOriginValidator refuses every handshake without `Origin`, which
would shut token clients out; hence the subclass.
"""

from urllib.parse import parse_qs

from channels.auth import get_user
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import SessionMiddlewareStack
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from accounts.tokens import user_for_token as lookup

from .db import db_call


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def token_from_scope(scope) -> str | None:
    """The token from the query string, else from an `Authorization: Token` header."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    authorization = _header(scope, b"authorization")
    if authorization:
        scheme, _, key = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "token" and key.strip():
            return key.strip()
    return None


@db_call
def user_for_token(key: str):
    found = lookup(key)
    return found[0] if found is not None and found[0].is_active else AnonymousUser()


class WebSocketAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] (and scope["auth"]: "token", "session" or None)."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        key = token_from_scope(scope)
        if key is not None:
            user, method = await user_for_token(key), "token"
        elif _header(scope, b"origin") is not None:
            user, method = await get_user(scope), "session"
        else:
            user, method = AnonymousUser(), None
        scope["user"] = user
        scope["auth"] = method if user.is_authenticated else None
        return await super().__call__(scope, receive, send)


class OptionalOriginValidator(OriginValidator):
    """Checks `Origin` when it is present; lets a handshake without one through."""

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def websocket_stack(inner):
    allowed = list(settings.WEBSOCKET_ALLOWED_ORIGINS or settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return OptionalOriginValidator(SessionMiddlewareStack(WebSocketAuthMiddleware(inner)), allowed)

"""The product with one of its own choices undone, for bench/rest_send.py `--variant`: a
measurement of what that choice buys, in the same run as the product itself. Bench only;
it may reach into what it undoes.

- `stock-handler`: Django's own ASGIHandler for HTTP instead of messaging_site.http's.
- `orm-token`: token authentication through the ORM's `select_related` query instead of
  accounts.tokens' one statement.

    BENCH_VARIANT=stock-handler daphne -b 127.0.0.1 -p 8003 bench.variants:application
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.production")
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from messaging_site import asgi  # noqa: E402
from messaging_site.asgi_limits import BodySizeLimitMiddleware  # noqa: E402
from messaging_site.gc_freeze import FreezeAfterWarmUp  # noqa: E402
from messaging_site.routing import websocket_urlpatterns  # noqa: E402
from messaging_site.websocket import websocket_stack  # noqa: E402

VARIANT = os.environ.get("BENCH_VARIANT", "")


def _orm_user_for_token(key):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return None if token is None else (token.user, token)


if VARIANT == "stock-handler":
    application = FreezeAfterWarmUp(
        ProtocolTypeRouter(
            {
                "http": BodySizeLimitMiddleware(ASGIHandler(), settings.MAX_REQUEST_BODY_BYTES),
                "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
            }
        )
    )
elif VARIANT == "orm-token":
    from accounts import authentication

    authentication.user_for_token = _orm_user_for_token
    application = asgi.application
else:
    raise SystemExit(f"BENCH_VARIANT must be stock-handler or orm-token, not {VARIANT!r}")

"""ASGI entry point: HTTP to Django behind the body limit, WebSockets to the one consumer
through the Origin check and authentication (docs/ARCHITECTURE.md)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.production")
django.setup(set_prefix=False)

# Imported after Django is set up: these touch models and settings.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from .asgi_limits import MULTIPART_ALLOWANCE, BodySizeLimitMiddleware  # noqa: E402
from .gc_freeze import FreezeAfterWarmUp, freeze  # noqa: E402
from .http import ASGIHandler  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402
from .websocket import websocket_stack  # noqa: E402

application = FreezeAfterWarmUp(
    ProtocolTypeRouter(
        {
            "http": BodySizeLimitMiddleware(
                ASGIHandler(),
                settings.MAX_REQUEST_BODY_BYTES,
                # The exceptions: a file and its multipart wrapping (SPEC section 13), and a
                # campaign's recipients, over REST or as the web form's CSV.
                larger={
                    reverse("upload-list"): settings.UPLOAD_MAX_BYTES + MULTIPART_ALLOWANCE,
                    reverse("campaign-list"): settings.CAMPAIGN_MAX_BYTES + MULTIPART_ALLOWANCE,
                    reverse("web:campaign_new"): settings.CAMPAIGN_MAX_BYTES + MULTIPART_ALLOWANCE,
                },
            ),
            "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
        }
    )
)
freeze()  # what the imports built; FreezeAfterWarmUp adds what the first requests build

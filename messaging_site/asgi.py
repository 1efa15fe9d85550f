"""ASGI entry point: HTTP to Django behind the body limit, WebSockets to the one consumer."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.production")
django.setup(set_prefix=False)

from .http import ASGIHandler  # noqa: E402

django_application = ASGIHandler()

# Imported after Django is set up: these touch models and settings.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

import boards.ws  # noqa: E402, F401 - registers its WebSocket actions and relays
import campaigns.ws  # noqa: E402, F401 - registers watchCampaign and its relay
import chat.relay  # noqa: E402 - registers its relays and connection state
import chat.ws  # noqa: E402, F401 - registers its WebSocket actions

from .asgi_limits import BodySizeLimitMiddleware  # noqa: E402
from .consumers import Consumer  # noqa: E402
from .gc_freeze import FreezeAfterWarmUp, freeze  # noqa: E402
from .twisted_http import install as install_twisted_cache  # noqa: E402
from .websocket import websocket_stack  # noqa: E402

application = FreezeAfterWarmUp(
    ProtocolTypeRouter(
        {
            "http": BodySizeLimitMiddleware(django_application, settings.MAX_REQUEST_BODY_BYTES),
            "websocket": websocket_stack(URLRouter([path("ws/", Consumer.as_asgi())])),
        }
    )
)
install_twisted_cache()
freeze()  # what the imports built; FreezeAfterWarmUp adds what the first requests build

"""Production: everything from the environment, and refuse to start when it is unsafe."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, LOGGING, SECRET_KEY, WEBSOCKET_ALLOWED_ORIGINS, env

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or DEBUG=0).")

_INSECURE_PREFIX = "django-insecure"
if (
    not SECRET_KEY
    or SECRET_KEY.startswith(_INSECURE_PREFIX)
    or len(set(SECRET_KEY)) < 5
    or len(SECRET_KEY) < 50
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

# The WebSocket Origin check compares a handshake's Origin with these patterns: a "*" among
# them would let any site open a socket with a visitor's session cookie.
if "*" in (WEBSOCKET_ALLOWED_ORIGINS or ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS=* would turn off the WebSocket Origin check in production: list the "
        "site's hosts in ALLOWED_HOSTS, or the origins its pages are served from in "
        "WEBSOCKET_ALLOWED_ORIGINS (a '*' there is refused too)."
    )

# TLS terminates at the proxy in front of Daphne; it tells us the scheme in this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# One JSON object per line (messaging_site/logs.py), for whatever collects them.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING["formatters"] = {"lines": {"()": "messaging_site.logs.formatter", "style": LOG_FORMAT}}

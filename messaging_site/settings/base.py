"""Settings shared by every environment.

Everything that differs between machines comes from the environment (12-factor), parsed by
django-environ. `dev`, `test` and `production` only change defaults and add checks.
"""

import ipaddress
from pathlib import Path
from typing import Any

import environ
import sentry_sdk
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where a browser's WebSocket handshake may come from (its Origin header), as host patterns
# ("chat.example.com", ".example.com", "https://chat.example.com:8443"); empty: the hosts of
# ALLOWED_HOSTS (messaging_site/websocket.py).
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",  # ArrayField (chat.Message.mentions)
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "chat",
    "boards",
    "campaigns",
    "moderation",
    "web",
]

MIDDLEWARE = [
    "messaging_site.metrics.RequestMetrics",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "messaging_site.logs.RequestContext",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "messaging_site.urls"
ASGI_APPLICATION = "messaging_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "web.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Connections per web process (psycopg pool); WebSocket database calls use 2 fewer threads.
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=10)
# Statements bind on the server, and psycopg prepares each one a connection has run this
# many times: a pooled connection then plans its hot statements once (planning the
# conversation list costs more than running it, chat/listing.py). Django's defaults bind
# on the client and never prepare, which keeps transaction-mode poolers working; behind
# PgBouncer, version 1.21 or newer tracks prepared statements. 0 prepares everything at
# once; `DATABASE_PREPARE_THRESHOLD=` (empty) turns preparing off.
_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5")
PREPARE_THRESHOLD = int(_threshold) if _threshold else None
DATABASE_OPTIONS: dict[str, Any] = {
    "server_side_binding": True,
    "prepare_threshold": PREPARE_THRESHOLD,
    # A dead server is noticed by the client in about a minute rather than never.
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
# A host that dies holding a transaction open (its link gone, no FIN) would keep its row
# locks until PostgreSQL noticed: two hours with the kernel's keepalive defaults, and every
# send to that conversation would wait (tests/test_two_hosts.py's review). Each session
# asks the server to probe its client after 30 s of silence and to end a transaction idle
# for a minute; the product never leaves one idle that long. Empty for a pooler that
# refuses the `options` startup parameter (PgBouncer without `ignore_startup_parameters`).
DATABASE_SESSION_OPTIONS = env.str(
    "DATABASE_SESSION_OPTIONS",
    default="-c idle_in_transaction_session_timeout=60s -c tcp_keepalives_idle=30 "
    "-c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
)
if DATABASE_SESSION_OPTIONS:
    DATABASE_OPTIONS["options"] = DATABASE_SESSION_OPTIONS
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/messaging"),
}
_db = DATABASES["default"]
# Daphne runs the ORM on threads inside one long-lived process: a pool there beats opening
# a connection per request. Celery's Django fixup closes connections around every prefork
# task (celery#10554), which fights a pool, so workers run with DATABASE_POOL=off (set by
# `make run` and docker-compose) and keep one persistent connection per process instead,
# checked before each task reuses it (the fixup's close_old_connections): a new
# connection per task (a PostgreSQL backend forked for each text) held a campaign through
# Kannel to 67% of the limit on two cores (bench/sms_kannel.py).
_pooled = env.bool("DATABASE_POOL", default=True)
_db["CONN_MAX_AGE"] = 0 if _pooled else env.int("DATABASE_CONN_MAX_AGE", default=600)
_db["CONN_HEALTH_CHECKS"] = True
# Merged, not replaced: a URL's query (`?host=/socket/dir`) arrives as options.
_db.setdefault("OPTIONS", {}).update(DATABASE_OPTIONS)
if _pooled:
    _db["OPTIONS"]["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": DATABASE_POOL_MAX,
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, scripts (messaging_site.redis_client), cache ---
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Every key this deployment writes starts with this, so two deployments (or a test run
# beside `make run`) can share one Redis database without seeing each other.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="msg")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
    }
}

# "pubsub" (the default): a group_send is one PUBLISH, and each Daphne process hands it to
# its own sockets; "core": channels-redis' RedisChannelLayer, which stores one copy per
# member channel and costs a Redis round trip per delivery. Both are at-most-once; the
# seq cursors make delivery reliable either way. Why pubsub: docs/REALTIME.md.
CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
# A socket's group membership lapses this long after its last group_add ("core" only); the
# consumer re-adds at half of it (messaging_site/consumers.py).
CHANNEL_GROUP_EXPIRY = env.int("CHANNEL_GROUP_EXPIRY", default=86400)
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL}],
                "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            },
        }
    }
elif CHANNEL_LAYER == "core":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's asyncio pool stops at 100 connections by default, and a burst
                # of sockets connecting at once each hold one for group_add.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000),
                    }
                ],
                "prefix": f"{REDIS_KEY_PREFIX}:asgi",
                "group_expiry": CHANNEL_GROUP_EXPIRY,
                # Per-socket buffer; a socket that falls this far behind loses relayed
                # events, which its seq cursor then recovers from the database.
                "capacity": env.int("CHANNEL_CAPACITY", default=500),
            },
        }
    }
else:
    raise ImproperlyConfigured('CHANNEL_LAYER must be "pubsub" or "core".')
# Per-connection WebSocket send throttle (token bucket): a fast typist and a client
# replaying an offline outbox both fit.
WS_SEND_RATE = env.float("WS_SEND_RATE", default=10.0)
# How long after a user's last socket closes they turn offline (SPEC section 13: 30 s).
PRESENCE_OFFLINE_SECONDS = env.float("PRESENCE_OFFLINE_SECONDS", default=30.0)
WS_SEND_BURST = env.int("WS_SEND_BURST", default=50)
# Fault injection for tests of ordering (chat/relay.py FaultInjector); off in every real run.
WS_FAULT_EVERY = env.int("WS_FAULT_EVERY", default=0)
WS_FAULT_MODE = env.str("WS_FAULT_MODE", default="delay")
WS_FAULT_DELAY_MS = env.int("WS_FAULT_DELAY_MS", default=300)

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- Limits -----------------------------------------------------------------------------
# The ASGI BodySizeLimit middleware (messaging_site/asgi.py) holds every request to this
# before Django reads its body, a few paths to larger limits of their own (uploads, a
# campaign's recipients). Django's own check (which DRF's JSON and form parsers meet
# through `request.body`) is set to the largest of them, so that it refuses nothing the
# middleware let through.
MAX_REQUEST_BODY_BYTES = 1024 * 1024

# --- REST framework -------------------------------------------------------------------
# /metrics (messaging_site.metrics): a bearer of this token, or a client in one of these
# networks ("10.0.0.0/8, 127.0.0.1"); neither set, it answers nobody.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = [
    ipaddress.ip_network(network.strip(), strict=False)
    for network in env.list("METRICS_ALLOWED_IPS", default=[])
    if network.strip()
]
THROTTLES_ENABLED = env.str("THROTTLES", default="on").lower() not in {"off", "0", "false", "no"}

REST_FRAMEWORK = {
    # Token first: DRF answers 401 (with WWW-Authenticate) instead of 403 only when the
    # first class has an authenticate_header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "messaging_site.renderers.JSONRenderer",
        "messaging_site.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "messaging_site.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "messaging_site.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["messaging_site.throttling.UserWriteThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # A person typing fast sends well under one message a second; a client replaying
        # an offline outbox may burst, hence a generous minute budget.
        "user_write": env.str("THROTTLE_USER_WRITE", default="120/min"),
        "register": env.str("THROTTLE_REGISTER", default="10/hour"),
        "token": env.str("THROTTLE_TOKEN", default="20/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "messaging_site.rest_errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Messaging platform API",
    "DESCRIPTION": (
        "Accounts, blocks, conversations, boards and SMS campaigns. Authenticate with "
        "`Authorization: Token <key>` (from `/api/auth/token/`) or a session."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The API speaks JSON. Its views also parse forms, for the browsable API's HTML forms
    # (multipart, hard-coded in DRF's template), which are not part of the contract.
    "PARSER_WHITELIST": ["messaging_site.parsers.JSONParser"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "messaging_site.schema.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ConversationKindEnum": "chat.models.Conversation.Kind",
        "NewConversationKindEnum": [("group", "group"), ("room", "room")],
        "MembershipStatusEnum": "chat.models.Membership.Status",
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "SmsStatusEnum": "campaigns.models.SmsMessage.Status",
        "PresenceStatusEnum": [("active", "active"), ("idle", "idle"), ("offline", "offline")],
    },
}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="messaging")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# A task is acknowledged after it ran, and given back if its worker dies mid-task: work is
# never lost, so every task must be idempotent (it may run twice).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The workers' lines go through LOGGING like every other process's (messaging_site/logs.py),
# not through the formatter Celery would put on the root logger.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# An unacknowledged task comes back after this; no task may be scheduled further ahead
# than this (countdown/eta), or it would be redelivered again and again.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
}

# --- i18n, static -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Attachments (chat.uploads) go through the storage alias "attachments": the local file
# system under UPLOAD_ROOT by default; with UPLOAD_STORAGE=s3, an S3 bucket through
# django-storages (`pip install '.[s3]'`; README, "Attachments"). Files are always
# served through the product, which checks who may read them, never from the bucket.
UPLOAD_ROOT = env.path("UPLOAD_ROOT", default=BASE_DIR / "var" / "uploads")
UPLOAD_STORAGE = env.str("UPLOAD_STORAGE", default="local")
if UPLOAD_STORAGE == "local":
    ATTACHMENTS_STORAGE: dict = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": UPLOAD_ROOT, "base_url": None},
    }
elif UPLOAD_STORAGE == "s3":
    ATTACHMENTS_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "location": env.str("AWS_LOCATION", default="attachments"),
            # Private objects; names are random and never reused.
            "default_acl": None,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured('UPLOAD_STORAGE must be "local" or "s3".')
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "attachments": ATTACHMENTS_STORAGE,
}

# --- Security headers that hold everywhere ----------------------------------------------
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# messaging_site/logs.py: `json` (one object per line, production's default) or `plain`.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING_CONFIG = "messaging_site.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"lines": {"()": "messaging_site.logs.formatter", "style": LOG_FORMAT}},
    "filters": {"refusals": {"()": "messaging_site.logfilters.RefusalsWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "lines",
            "filters": ["refusals"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers for it (DEFAULT_LOGGING: a console one while DEBUG) would
        # print each record a second time, with its traceback, beside the root's.
        "django": {"handlers": [], "propagate": True},
        "django.channels.server": {"level": "WARNING"},
        # Beat ticks every second: a line per tick and per task would drown the log lines
        # that matter (campaigns.send writes one per SMS attempt).
        "celery.beat": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

# Files served at the site root (favicon.ico, robots.txt).
WHITENOISE_ROOT = BASE_DIR / "public"

# --- Chat ---------------------------------------------------------------------------------
# How long after sending a sender may edit a message (0: no limit). Deleting one's own
# message has no limit.
MESSAGE_EDIT_SECONDS = env.int("MESSAGE_EDIT_SECONDS", default=3600)
# Attachments (SPEC section 13): the largest file accepted (larger: 413), the most pixels
# an image may have (its frames together, for an animation) to be re-encoded without its
# metadata, and how long an upload no message carries is kept.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=25 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=60_000_000)
UPLOAD_UNATTACHED_SECONDS = env.int("UPLOAD_UNATTACHED_SECONDS", default=86_400)
# What one user's uploads not yet sent may come to.
UPLOAD_PENDING_MAX_BYTES = env.int("UPLOAD_PENDING_MAX_BYTES", default=512 * 1024 * 1024)

# --- SMS ----------------------------------------------------------------------------------
# The most a campaign's create may bring (its recipients as JSON, or the web form's CSV):
# 16 MiB holds 200,000 recipients with a few fields each.
CAMPAIGN_MAX_BYTES = env.int("CAMPAIGN_MAX_BYTES", default=16 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MAX_REQUEST_BODY_BYTES, CAMPAIGN_MAX_BYTES)
SMS_BACKEND = env.str("SMS_BACKEND", default="campaigns.backends.console.ConsoleBackend")
SMS_SEGMENTS_PER_SECOND = env.int("SMS_SEGMENTS_PER_SECOND", default=45)
# See campaigns/limiter.py: the band within which every request reaches the provider after
# its logged place. Half bounds the time from asking for the place to writing the request
# (a slower answer is asked for again), half is left for the network and the provider's
# own stamping. The ceiling on throughput is 1 / (1 + guard).
SMS_RATE_GUARD_MS = env.float("SMS_RATE_GUARD_MS", default=10.0)
# campaigns/limiter.py, "Spreading": the share of the even spacing (1/limit s per segment)
# kept between one departure and the next; 0 lets a backlog leave in bursts.
SMS_RATE_SPREAD = env.float("SMS_RATE_SPREAD", default=0.6)
SMS_FROM = env.str("SMS_FROM", default="Messaging")
# The one reply to each inbound keyword (campaigns.inbound).
SMS_STOP_TEXT = env.str(
    "SMS_STOP_TEXT",
    default="You are unsubscribed and will get no more messages. Reply START to resubscribe.",
)
SMS_START_TEXT = env.str(
    "SMS_START_TEXT",
    default="You are subscribed again. Reply STOP to unsubscribe, HELP for help.",
)
SMS_HELP_TEXT = env.str(
    "SMS_HELP_TEXT",
    default=f"{SMS_FROM}: reply STOP to unsubscribe, START to resubscribe.",
)
for _name in ("SMS_STOP_TEXT", "SMS_START_TEXT", "SMS_HELP_TEXT"):
    # An answer that could not be sent would undo the opt-out it answers (campaigns.inbound).
    if not 1 <= len(globals()[_name].strip()) <= 1600:
        raise ImproperlyConfigured(f"{_name} must be 1 to 1,600 characters.")
# What the HTTP backend's callbacks (inbound texts, delivery reports) must bring as
# `Authorization: Bearer ...`; empty: those callbacks refuse everything.
SMS_CALLBACK_TOKEN = env.str("SMS_CALLBACK_TOKEN", default="")
# Where a gateway reaches this service, for the callbacks a send asks for (Kannel's
# dlr-url, Twilio's StatusCallback): e.g. https://chat.example.com.
SMS_CALLBACK_BASE_URL = env.str("SMS_CALLBACK_BASE_URL", default="")
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_TOKEN = env.str("SMS_HTTP_TOKEN", default="")
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=10.0)
# Kannel (campaigns.backends.kannel): its smsbox's sendsms URL and sendsms-user, and the
# secret its dlr-url and sms-service get-url carry back (letters, digits, - _ . ~).
KANNEL_SENDSMS_URL = env.str("KANNEL_SENDSMS_URL", default="http://127.0.0.1:13013/cgi-bin/sendsms")
KANNEL_USERNAME = env.str("KANNEL_USERNAME", default="")
KANNEL_PASSWORD = env.str("KANNEL_PASSWORD", default="")
KANNEL_SECRET = env.str("KANNEL_SECRET", default="")
# Twilio (campaigns.backends.twilio): the account, and the sender: a number of the
# account's, or a messaging service. TWILIO_API_URL is for tests against a local stand-in.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_API_URL = env.str("TWILIO_API_URL", default="https://api.twilio.com")
# Numbers without a leading + are read as this region's (ISO 3166 code); empty: + required.
SMS_DEFAULT_REGION = env.str("SMS_DEFAULT_REGION", default="") or None
SMS_RETRY_BASE_SECONDS = env.float("SMS_RETRY_BASE_SECONDS", default=1.0)
# Well under the broker's visibility timeout (3600 s), though no task waits out a backoff.
SMS_RETRY_CAP_SECONDS = env.float("SMS_RETRY_CAP_SECONDS", default=300.0)
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=8)
# A claim (`sending`) not finished by then is taken back by the sweep, so a killed worker's
# record goes out again this soon. It covers the wait for the limiter, and is renewed
# just before the provider call, so it must exceed SMS_HTTP_TIMEOUT.
SMS_LEASE_SECONDS = env.int("SMS_LEASE_SECONDS", default=15)
if SMS_LEASE_SECONDS < SMS_HTTP_TIMEOUT + 2:
    raise ImproperlyConfigured("SMS_LEASE_SECONDS must exceed SMS_HTTP_TIMEOUT by 2 s or more.")
# A dispatched task that never claimed its record (lost with the broker, as when Redis
# restarts empty) is replaced after this: the longest a task waits on the broker is the
# in-flight cap's worth of work (below), a few seconds. Replacing one that was only slow
# is harmless: the second finds the record claimed or sent and does nothing.
SMS_REDISPATCH_SECONDS = env.int("SMS_REDISPATCH_SECONDS", default=10)
# Tasks on the broker at once: enough to keep the limit busy, and no more, since a retry or
# a newly due text waits behind all of them (500 was 11 s of work at 45 a second, 60 is
# about 1.3 s; bench/sms_rate.py gave the same utilisation with either:
# bench/results/sms_in_flight_2026-12-02.txt).
SMS_MAX_IN_FLIGHT = env.int("SMS_MAX_IN_FLIGHT", default=60)
CELERY_BEAT_SCHEDULE = {
    "sms-tick": {"task": "campaigns.tasks.sms_tick", "schedule": 1.0},
    # Presence that time alone changes (a process gone with its sockets): chat.presence.
    "presence-sweep": {"task": "chat.tasks.presence_sweep", "schedule": 30.0},
    # Uploads no message took (chat.uploads.sweep).
    "uploads-sweep": {"task": "chat.tasks.uploads_sweep", "schedule": 3600.0},
}
# The tick (sweep, dispatch, campaign progress every second) has a queue, and a worker, of
# its own: on the send queue it waited behind every send task of a backlog, and progress
# frames came 2 s apart and then in a burst. `make run` and docker-compose start the
# control worker (`-Q` this, one process).
CELERY_CONTROL_QUEUE = env.str(
    "CELERY_CONTROL_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-control"
)
CELERY_TASK_ROUTES = {
    "campaigns.tasks.sms_tick": {"queue": CELERY_CONTROL_QUEUE},
    "chat.tasks.presence_sweep": {"queue": CELERY_CONTROL_QUEUE},
    "chat.tasks.uploads_sweep": {"queue": CELERY_CONTROL_QUEUE},
}

# --- Errors to Sentry, when SENTRY_DSN is set ---------------------------------------------
# Nothing of a request's body or a user's data goes with an error (SPEC section 15: no
# token, password or message body leaves the service in its logs).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        max_request_body_size="never",
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "off"}},  # Authorization: a token
            "http_bodies": [],
            "url_query_params": {"mode": "off"},  # /ws/?token=...
            "stack_frame_variables": False,
            "database_query_data": False,
        },
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

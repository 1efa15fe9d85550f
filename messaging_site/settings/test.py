"""The test suite, against the real PostgreSQL and Redis, isolated from `make run`.

pytest-django creates its own database (`test_<name>`). Redis isolation: another database
number (15) and a key prefix unique to this test run, so neither a running `make run` nor
a second test run sees these keys. Celery tasks go to a queue of their own for the same
reason: a `make run` worker must never take a test's task.
"""

import hashlib
import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import (
    BASE_DIR,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CHANNEL_LAYERS,
    DATABASE_OPTIONS,
    env,
)

TEST_RUN_ID = os.environ.setdefault("TEST_RUN_ID", str(os.getpid()))

DEBUG = False
SECRET_KEY = "django-insecure-test-only"  # noqa: S105
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
REDIS_KEY_PREFIX = f"test{TEST_RUN_ID}"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/messaging"),
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {}).update(DATABASE_OPTIONS)
# One test database per checkout: two clones testing at once on one machine (a CI run
# beside a working tree) must not share it, while one clone still reuses its own.
_checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_checkout}"}
if env.bool("DATABASE_POOL", default=False):
    _pool = {"min_size": 1, "max_size": 10, "timeout": 10}
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
    }
}
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{REDIS_KEY_PREFIX}:asgi"
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = f"test-{TEST_RUN_ID}"
CELERY_CONTROL_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-control"
CELERY_TASK_ROUTES = {
    "campaigns.tasks.sms_tick": {"queue": CELERY_CONTROL_QUEUE},
    "chat.tasks.presence_sweep": {"queue": CELERY_CONTROL_QUEUE},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
}

# Throttles are tested on purpose (override_settings) and stay out of the way elsewhere.
THROTTLES_ENABLED = env.str("THROTTLES", default="off").lower() not in {"off", "0", "false"}

# Hashing passwords at full strength costs ~0.3 s per user; the validators still run.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Uploads of this run (its Daphne subprocesses inherit TEST_RUN_ID, so they share it).
UPLOAD_ROOT = Path(tempfile.gettempdir()) / f"messaging-test-uploads-{TEST_RUN_ID}"
ATTACHMENTS_STORAGE = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": UPLOAD_ROOT, "base_url": None},
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing collected: files come from the app folders
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": ATTACHMENTS_STORAGE,
}
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

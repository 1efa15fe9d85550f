"""Local development (`make run`): debug on, a throwaway secret, static files from source."""

from .base import *  # noqa: F403
from .base import ATTACHMENTS_STORAGE, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-dev-only-never-deploy-this-key")
# Serve static files straight from the app folders, no collectstatic step.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing collected: files come from the app folders
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": ATTACHMENTS_STORAGE,
}

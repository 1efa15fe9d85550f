"""The Celery application: Redis as the broker, JSON only, settings under CELERY_*. Its
task modules are listed here, as urls.py lists views; nothing is discovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.production")

app = Celery("messaging_site", include=["campaigns.tasks", "chat.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")

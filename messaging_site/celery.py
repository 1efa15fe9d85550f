"""The Celery application: Redis as the broker, JSON only, settings under CELERY_*."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.production")

app = Celery("messaging_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

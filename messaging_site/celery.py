"""The Celery application: Redis as the broker, JSON only, settings under CELERY_*. Its
task modules are listed here, as urls.py lists views; nothing is discovered."""

import os

from celery import Celery
from celery.signals import task_prerun

from . import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.production")

app = Celery("messaging_site", include=["campaigns.tasks", "chat.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")


@task_prerun.connect
def _task_context(task_id=None, **_):
    """Each task's lines carry its id, and nothing of the task before it in this process
    (messaging_site.logs)."""
    logs.new_context()
    logs.bind(task_id=task_id)

"""Celery tasks of the chat app: thin, each safe to run twice."""

from celery import shared_task

from . import presence, uploads

PRESENCE_SWEEP = "chat.tasks.presence_sweep"
UPLOADS_SWEEP = "chat.tasks.uploads_sweep"


@shared_task(name=PRESENCE_SWEEP, ignore_result=True)
def presence_sweep() -> None:
    """Beat, every HEARTBEAT_SECONDS: presence that time alone changed (chat.presence)."""
    presence.sweep()


@shared_task(name=UPLOADS_SWEEP, ignore_result=True)
def uploads_sweep() -> None:
    """Beat, hourly: uploads no message took within UPLOAD_UNATTACHED_SECONDS go."""
    uploads.sweep()

"""Celery tasks of the chat app: thin, each safe to run twice."""

from celery import shared_task

from . import presence

PRESENCE_SWEEP = "chat.tasks.presence_sweep"


@shared_task(name=PRESENCE_SWEEP, ignore_result=True)
def presence_sweep() -> None:
    """Beat, every HEARTBEAT_SECONDS: presence that time alone changed (chat.presence)."""
    presence.sweep()

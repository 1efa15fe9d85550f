"""Celery tasks: take ids, call campaigns.sending. Each is safe to run twice."""

from celery import shared_task

from . import events, sending


@shared_task(ignore_result=True)
def send_sms(message_id: int) -> None:
    sending.attempt(message_id=message_id)
    # Refill the pipeline as work drains, so a backlog never waits for the next tick.
    sending.dispatch_due()


@shared_task(ignore_result=True)
def sms_dispatch() -> None:
    sending.dispatch_due()


@shared_task(ignore_result=True)
def sms_tick() -> None:
    """Every second (beat): recover what lost workers left, start what became due, and
    tell watchers how their campaigns are doing."""
    sending.sweep()
    sending.dispatch_due()
    events.publish_progress()

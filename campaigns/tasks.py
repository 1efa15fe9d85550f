"""Celery tasks: take ids, call campaigns.sending. Each is safe to run twice. Their names
are campaigns.queue's, which is how the rest of the app enqueues them."""

from celery import shared_task

from . import events, queue, sending, services


@shared_task(name=queue.SEND_SMS, ignore_result=True)
def send_sms(message_id: int) -> None:
    sending.attempt(message_id=message_id)
    # Refill the pipeline as work drains, so a backlog never waits for the next tick.
    sending.dispatch_due()


@shared_task(name=queue.DISPATCH, ignore_result=True)
def sms_dispatch() -> None:
    sending.dispatch_due()


@shared_task(name=queue.TICK, ignore_result=True)
def sms_tick() -> None:
    """Every second (beat): recover what lost workers left, start what became due, and
    tell watchers how their campaigns are doing. Several beats (one per host) share
    the work: one tick a second runs (queue.tick_turn)."""
    if not queue.tick_turn():
        return
    sending.sweep()
    services.start_due_campaigns()
    sending.dispatch_due()
    events.publish_progress()

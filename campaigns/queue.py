"""Putting campaign work on the Celery broker.

Tasks are named here and enqueued by name, so the modules that decide what to send
(campaigns.services, campaigns.sending) need not import the tasks that call them
(campaigns.tasks registers its functions under these same names). Every task is safe to
run twice, late, or not at all: the database says what is due (campaigns/sending.py).
"""

from django.db import transaction

from messaging_site.celery import app

SEND_SMS = "campaigns.tasks.send_sms"
DISPATCH = "campaigns.tasks.sms_dispatch"
TICK = "campaigns.tasks.sms_tick"


def dispatch_on_commit() -> None:
    """After the surrounding transaction commits: look for due records now rather than
    at the next tick."""
    transaction.on_commit(lambda: app.send_task(DISPATCH))


def send_on_commit(message_ids: list[int]) -> None:
    """After commit: one delivery attempt per record."""
    transaction.on_commit(lambda: [app.send_task(SEND_SMS, args=[pk]) for pk in message_ids])

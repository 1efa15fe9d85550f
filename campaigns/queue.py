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

# Kombu's Redis transport keeps a list per priority step and takes from the lowest number
# first; tasks sent without a priority go to 0. A retry (or a record the sweep took back)
# goes out at 0, ahead of the backlog of first attempts at 6: it waits its backoff, not
# the queue.
PRIORITY_URGENT = 0
PRIORITY_BACKLOG = 6


def dispatch_on_commit() -> None:
    """After the surrounding transaction commits: look for due records now rather than
    at the next tick."""
    transaction.on_commit(lambda: app.send_task(DISPATCH))


def send_on_commit(message_ids: list[int], *, urgent: bool = False) -> None:
    """After commit: one delivery attempt per record."""
    if not message_ids:
        return
    priority = PRIORITY_URGENT if urgent else PRIORITY_BACKLOG
    transaction.on_commit(
        lambda: [app.send_task(SEND_SMS, args=[pk], priority=priority) for pk in message_ids]
    )

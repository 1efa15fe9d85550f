"""Putting campaign work on the Celery broker.

Tasks are named here and enqueued by name, so the modules that decide what to send
(campaigns.services, campaigns.sending) need not import the tasks that call them
(campaigns.tasks registers its functions under these same names). Every task is safe to
run twice, late, or not at all: the database says what is due (campaigns/sending.py).
"""

import redis
from django.db import transaction

from messaging_site import redis_client
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

# Beat runs on more than one host, so that the tick (sweeps, due campaigns, progress) has
# no single point of failure, and each beat enqueues one a second. The first tick to come
# in a window takes the turn; the others in it have nothing to add.
TICK_TURN_MS = 800


def tick_turn() -> bool:
    """Whether this tick runs: the first in its window does. When Redis cannot say, it
    runs: a tick is safe twice, and missing one is not."""
    try:
        return bool(
            redis_client.client(quick=True).set(
                redis_client.key("sms", "tick"), "1", nx=True, px=TICK_TURN_MS
            )
        )
    except redis.RedisError:
        return True


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

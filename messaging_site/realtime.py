"""The one path from a committed write to the channel layer (docs/ARCHITECTURE.md,
"The path of a write").

Services publish through `publish_on_commit`: nothing is published for a transaction that
rolls back, and nothing before the rows a client would fetch next are visible. Two other
doors exist, each named for what it does:

- `publish_now`: at once, and wait until it is out. For code that holds no transaction
  (beat's campaign progress), so what it announces is committed already.
- `publish_before_commit`: at once, under a row lock, before the transaction commits.
  Rollback-unsafe by design: a removal must reach the removed user's sockets before any
  later message can be published, and a later message needs the lock this transaction
  holds. Receivers treat such an event as tentative until the committed state confirms
  it (chat/relay.py, `relay_revoke`).

Inside the server (a view or a socket's database call, on a thread of the event loop's
process), a commit does not wait for its publish: the batch goes to that loop's
publisher, which sends batches one after another in the order they were handed over,
and the thread goes back to work with its database connection free (waiting was most of
a send's tail: bench/results/PERFORMANCE-history.md, "REST send"). A waiting publish
goes through the same queue and waits for its turn, so it never overtakes one handed
over before it. A publish that fails is kept and sent again once the channel layer is
back (`_Publisher`), and every open socket catches up from the database then
(messaging_site.layer_watch). Elsewhere (Celery workers, management commands, tests
calling services directly) every publish happens at once and waits, as there is no loop
to hand over to; a failure there is logged (campaign progress: the next tick repeats it).
"""

import asyncio
import collections
import concurrent.futures
import contextvars
import logging
import time
import weakref
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import metrics

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """Every socket of one user (deactivation, their own membership changes and blocks,
    join answers); each app names its own groups in its events module."""
    return f"user.{user_id}"


class _Publisher:
    """Publishes batches on one event loop, one after another, in the order received.

    A batch that fails (Redis unreachable) is not dropped: it waits at the head of the
    queue, with everything handed over after it, until this process's layer watch hears
    its own probe again (messaging_site.layer_watch), then goes out. Sockets catch up
    from the database at that moment anyway; this brings them what the database does not
    replay (receipts, deletions, join requests). A caller that waits for its publish is
    never kept waiting through an outage: its batch fails at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: collections.deque = collections.deque()
        self.draining = False
        self.stalled = False
        self.layer_back = asyncio.Event()

    def submit(self, batch: list, done: concurrent.futures.Future | None) -> None:
        """From any thread."""
        self.loop.call_soon_threadsafe(self._put, batch, done)

    def _put(self, batch, done) -> None:
        if done is not None and self.stalled:
            done.set_exception(ConnectionError("the channel layer is unreachable"))
            return
        if len(self.pending) >= MAX_PENDING_BATCHES:
            self.pending.popleft()
            logger.error("publish queue full during an outage: the oldest batch is dropped")
        self.pending.append((batch, done))
        if not self.draining:
            self.draining = True
            self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, done = self.pending[0]
                try:
                    await _send(batch)
                except Exception as error:
                    metrics.PUBLISH_FAILURES.inc()
                    if done is not None:
                        self.pending.popleft()
                        done.set_exception(error)
                        continue
                    logger.warning(
                        "publish failed after commit: %d events wait for Redis",
                        len(batch),
                        exc_info=True,
                    )
                    await self._wait_for_layer()
                    continue
                self.pending.popleft()
                if done is not None:
                    done.set_result(None)
        finally:
            self.draining = False
            self.stalled = False

    async def _wait_for_layer(self) -> None:
        self.stalled = True
        for _, done in [item for item in self.pending if item[1] is not None]:
            done.set_exception(ConnectionError("the channel layer is unreachable"))
        self.pending = collections.deque(item for item in self.pending if item[1] is None)
        # Woken by this process's layer watch when it hears itself again (layer_back);
        # without one (no socket ever opened here), tried again every second.
        self.layer_back.clear()
        try:
            await asyncio.wait_for(self.layer_back.wait(), RETRY_SECONDS)
        except TimeoutError:
            return
        # Other processes' subscriptions come back within about a second of Redis; their
        # sockets catch up from the database then, but receipts are not in it.
        await asyncio.sleep(REPLAY_SETTLE_SECONDS)
        self.stalled = False


# Batches kept during an outage before the oldest is dropped (its messages still reach
# sockets by their catch-up from the database).
MAX_PENDING_BATCHES = 10_000
REPLAY_SETTLE_SECONDS = 0.5
RETRY_SECONDS = 1.0


_publishers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# The publisher of the event loop whose async code handed the current thread its work,
# if any: set by `bind_loop()`, carried into the thread with the context.
_current: contextvars.ContextVar[_Publisher | None] = contextvars.ContextVar(
    "publisher", default=None
)


def bind_loop() -> None:
    """Called on an event loop before it hands work to a thread (messaging_site.http,
    messaging_site.db): publishes from that work go through this loop's publisher."""
    loop = asyncio.get_running_loop()
    publisher = _publishers.get(loop)  # only ever touched on the loop's own thread
    if publisher is None:
        publisher = _publishers[loop] = _Publisher(loop)
    _current.set(publisher)


def layer_back(loop: asyncio.AbstractEventLoop) -> None:
    """Called on `loop` by its layer watch when the channel layer answers again: failed
    publishes waiting there go out."""
    publisher = _publishers.get(loop)
    if publisher is not None:
        publisher.layer_back.set()


def _publisher() -> _Publisher | None:
    publisher = _current.get()
    if publisher is None or publisher.loop.is_closed() or not publisher.loop.is_running():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return publisher
    return None  # on a loop's own thread: waiting for it there would deadlock


async def _send(batch: list) -> None:
    layer = get_channel_layer()
    for group, event in batch:
        await layer.group_send(group, event)


def _publish_and_wait(batch: list) -> None:
    try:
        async_to_sync(_send)(batch)
    except Exception:
        metrics.PUBLISH_FAILURES.inc()
        raise


def _committed(batch: list) -> list:
    """Each event stamped with the moment its change was known committed, which the
    socket that passes it on measures against (messaging_site.metrics.COMMIT_TO_FRAME)."""
    now = time.time()
    return [(group, {**event, "committed_at": now}) for group, event in batch]


def _publish(batch: list, *, wait: bool) -> None:
    publisher = _publisher()
    if publisher is None:
        _publish_and_wait(batch)
    elif wait:
        done: concurrent.futures.Future = concurrent.futures.Future()
        publisher.submit(batch, done)
        done.result()
    else:
        publisher.submit(batch, None)


Events = Iterable[tuple[str, dict]]


def publish_on_commit(events: Events, *, wait: bool = False) -> None:
    """Publish (group, event) pairs in order after the surrounding transaction commits (at
    once outside of one). With `wait`, the committing thread goes on only once they are
    out: what the caller does next is published after them."""
    batch = list(events)
    if batch:
        transaction.on_commit(lambda: _publish(_committed(batch), wait=wait))


def publish_now(events: Events) -> None:
    """Publish (group, event) pairs in order, at once, and wait until they are out. For
    callers outside any transaction: what they announce is already committed."""
    batch = list(events)
    if batch:
        _publish(_committed(batch), wait=True)


def publish_before_commit(events: Events) -> None:
    """Publish at once, inside the caller's transaction, and wait: rollback-unsafe.

    Precondition: the caller holds the row lock that orders these events before any later
    write's (a removal holds the conversation's lock, which every send needs). Receivers
    must treat the events as tentative until the committed state confirms them.
    """
    batch = list(events)
    if batch:
        _publish(batch, wait=True)

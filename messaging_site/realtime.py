"""The one path from a committed write to the channel layer.

Groups:
- `user.<id>`: every socket of one user (deactivation, membership changes, blocks,
  join answers).
- `conv.<id>`: every socket of every approved member of a conversation. One group_send
  per event, whatever the member count; each socket filters what its user must not see
  (blocked senders) and keeps each conversation's messages in seq order
  (chat/relay.py). docs/REALTIME.md says why this design.
- `board.<id>`: sockets subscribed to a board.

Services call `send_on_commit`: nothing is published for a transaction that rolls back,
and nothing before the rows a client would fetch next are visible. The one exception is
`send_now` under a conversation's row lock, for revocations that must reach sockets
before any later message can be published (chat.services).

Inside the server (a view or a socket's database call, on a thread of the event loop's
process), a commit does not wait for its publish: the batch goes to that loop's
publisher, which sends batches one after another in the order they were handed over,
and the thread goes back to work with its database connection free. Waiting cost a
round trip through the busy event loop while holding the connection: at 100 REST sends a
second, p99 82 to 93 ms waiting against 33 to 37 ms not (docs/PERFORMANCE.md, "REST
send"). `send_now` goes through the same queue and waits for its turn, so a revocation
never overtakes a message committed before it. A publish that fails is logged, not
raised: the rows are committed, and clients catch up by seq (`sync`). Elsewhere (Celery
workers, management commands, tests calling services directly) both publish at once and
wait, as there is no loop to hand over to.
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

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def board_group(board_id: int) -> str:
    return f"board.{board_id}"


def campaign_group(campaign_id: int) -> str:
    return f"campaign.{campaign_id}"


async def group_add_many(layer, groups: list[str], channel: str) -> None:
    """channels-redis' `group_add` for several groups in one pipelined round trip per
    Redis shard; `group_add` itself makes two round trips per group (ZADD, then EXPIRE).
    On a burst of 1,000 connects that was most of the event loop's time (py-spy,
    docs/PERFORMANCE.md). Uses the layer's own key and shard functions (channels-redis 4);
    any other layer gets plain `group_add` calls."""
    if not groups:
        return
    if not hasattr(layer, "_group_key"):
        for group in groups:
            await layer.group_add(group, channel)
        return
    shards: dict[int, list[str]] = {}
    for group in groups:
        layer.require_valid_group_name(group)  # raises TypeError for a bad name
        shards.setdefault(layer.consistent_hash(group), []).append(group)
    now = time.time()
    for index, names in shards.items():
        pipeline = layer.connection(index).pipeline(transaction=False)
        for group in names:
            key = layer._group_key(group)
            pipeline.zadd(key, {channel: now})
            pipeline.expire(key, layer.group_expiry)
        await pipeline.execute()


class _Publisher:
    """Publishes batches on one event loop, one after another, in the order received."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: collections.deque = collections.deque()
        self.draining = False

    def submit(self, batch: list, done: concurrent.futures.Future | None) -> None:
        """From any thread."""
        self.loop.call_soon_threadsafe(self._put, batch, done)

    def _put(self, batch, done) -> None:
        self.pending.append((batch, done))
        if not self.draining:
            self.draining = True
            self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, done = self.pending.popleft()
                try:
                    await _publish(batch)
                except Exception as error:
                    if done is not None:
                        done.set_exception(error)
                    else:
                        logger.exception("publish failed after commit: %d events", len(batch))
                else:
                    if done is not None:
                        done.set_result(None)
        finally:
            self.draining = False


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


def _publisher() -> _Publisher | None:
    publisher = _current.get()
    if publisher is None or publisher.loop.is_closed() or not publisher.loop.is_running():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return publisher
    return None  # on a loop's own thread: waiting for it there would deadlock


async def _publish(batch: list) -> None:
    layer = get_channel_layer()
    for group, event in batch:
        await layer.group_send(group, event)


def _publish_and_wait(batch: list) -> None:
    async_to_sync(_publish)(batch)


def send_now(messages: Iterable[tuple[str, dict]]) -> None:
    """Publish (group, event) pairs in order, and wait until they are out."""
    batch = list(messages)
    if not batch:
        return
    publisher = _publisher()
    if publisher is None:
        _publish_and_wait(batch)
        return
    done = concurrent.futures.Future()
    publisher.submit(batch, done)
    done.result()


def _send_after_commit(batch: list) -> None:
    publisher = _publisher()
    if publisher is None:
        _publish_and_wait(batch)
    else:
        publisher.submit(batch, None)


def send_on_commit(messages: Iterable[tuple[str, dict]]) -> None:
    """Publish after the surrounding transaction commits (at once outside of one)."""
    batch = list(messages)
    if batch:
        transaction.on_commit(lambda: _send_after_commit(batch))

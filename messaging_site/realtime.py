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
"""

import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


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


def send_now(messages: Iterable[tuple[str, dict]]) -> None:
    """Publish (group, event) pairs in order, in one event loop and one Redis pool."""
    batch = list(messages)
    if not batch:
        return
    layer = get_channel_layer()

    async def publish():
        for group, event in batch:
            await layer.group_send(group, event)

    async_to_sync(publish)()


def send_on_commit(messages: Iterable[tuple[str, dict]]) -> None:
    """Publish after the surrounding transaction commits (at once outside of one)."""
    batch = list(messages)
    transaction.on_commit(lambda: send_now(batch))

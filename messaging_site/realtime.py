"""The one path from a committed write to the channel layer.

Services call `send_on_commit`; nothing is published for a transaction that rolls back,
and nothing is published before the rows a client would fetch next are visible.
"""

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    """Every socket of one user joins this group."""
    return f"user.{user_id}"


def send_now(messages: Iterable[tuple[str, dict]]) -> None:
    """Publish (group, event) pairs in one event loop: one Redis pool for the whole batch."""
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

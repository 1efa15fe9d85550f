"""Noticing, in each server process, that the channel layer is back after an outage, so
that every open socket catches up from the database (SPEC section 15).

The channel layer is at-most-once: what is published while Redis is unreachable, or
while this process's subscriber connection is still reconnecting, is gone. PostgreSQL is
not. So each process runs one probe: every PROBE_EVERY seconds it publishes to a group
of its own and waits to hear it back through its own subscription. A probe that fails
or goes unheard marks the layer down; the first one heard after that proves that this
process's subscriptions work again (redis-py re-subscribes everything on one connection
at once), and every socket of the process then re-joins its groups (a restarted Redis
has lost RedisChannelLayer's group sets) and catches up: what was committed meanwhile
reaches it from the database, in order (messaging_site.consumers, `Consumer.catch_up`).

Publishes that failed meanwhile (messaging_site.realtime) wait for the same signal
(`realtime.layer_back`), so their events are not sent into subscriptions that are not
back yet.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from datetime import datetime, timedelta
from typing import Protocol

from channels.layers import get_channel_layer
from django.utils import timezone

from . import realtime


class Consumer(Protocol):
    """What the watch needs of a socket (messaging_site.consumers.Consumer)."""

    async def catch_up(self, since: datetime) -> None: ...


logger = logging.getLogger(__name__)

# Healthy, a probe every half second may take a second to come back. Down, probes are
# quick and short: redis-py's subscriber reconnects up to a second after Redis returns
# (channels-redis sleeps 1 s after each failed read), and a probe published before that is
# lost, so a long wait would add its whole length to the recovery.
PROBE_EVERY, PROBE_TIMEOUT = 0.5, 1.0
PROBE_EVERY_DOWN, PROBE_TIMEOUT_DOWN = 0.1, 0.25
# Sockets catching up at once, per process: each reads the database a few times.
CATCH_UP_CONCURRENCY = 32


class LayerWatch:
    """The probe and the sockets of one event loop (one server process)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.sockets: weakref.WeakSet[Consumer] = weakref.WeakSet()
        self.healthy = True
        self.heard: asyncio.Queue[str] = asyncio.Queue()
        self.tasks = [loop.create_task(self._probe()), loop.create_task(self._listen())]
        self.channel: str | None = None
        self.group = f"layer-probe.{uuid.uuid4().hex}"
        # When the probe last came back: an outage began after it.
        self.last_heard = timezone.now()

    async def _listen(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                if self.channel is None:
                    self.channel = await layer.new_channel("probe.")
                message = await layer.receive(self.channel)
                self.heard.put_nowait(message.get("token", ""))
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(PROBE_EVERY)

    async def _probe(self) -> None:
        layer = get_channel_layer()
        while True:
            await asyncio.sleep(PROBE_EVERY if self.healthy else PROBE_EVERY_DOWN)
            try:
                ok = await self._round_trip(
                    layer, PROBE_TIMEOUT if self.healthy else PROBE_TIMEOUT_DOWN
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                ok = False
            if ok and self.healthy:
                self.last_heard = timezone.now()
            if ok and not self.healthy:
                self.healthy = True
                logger.warning(
                    "channel layer back after an outage: %d sockets catch up", len(self.sockets)
                )
                realtime.layer_back(self.loop)
                await self._catch_up_all()
            elif not ok and self.healthy:
                self.healthy = False
                logger.warning("channel layer unreachable: sockets catch up when it is back")

    async def _round_trip(self, layer, patience: float) -> bool:
        if self.channel is None:
            return False
        token = uuid.uuid4().hex
        # Every time: a restarted Redis has forgotten RedisChannelLayer's group sets.
        await asyncio.wait_for(layer.group_add(self.group, self.channel), patience)
        await asyncio.wait_for(
            layer.group_send(self.group, {"type": "layer.probe", "token": token}), patience
        )
        deadline = self.loop.time() + patience
        while (left := deadline - self.loop.time()) > 0:
            try:
                if await asyncio.wait_for(self.heard.get(), left) == token:
                    return True
            except TimeoutError:
                return False
        return False

    async def _catch_up_all(self) -> None:
        slots = asyncio.Semaphore(CATCH_UP_CONCURRENCY)
        # A probe's round trip before the outage showed: clocks of the database and of
        # this process may differ a little, so a second more.
        since = self.last_heard - timedelta(seconds=1 + PROBE_TIMEOUT)
        self.last_heard = timezone.now()

        async def one(socket: Consumer) -> None:
            async with slots:
                await socket.catch_up(since)

        await asyncio.gather(*(one(socket) for socket in list(self.sockets)))


_watches: dict[asyncio.AbstractEventLoop, LayerWatch] = {}


def watch() -> LayerWatch:
    """The running loop's watch, started on first use."""
    loop = asyncio.get_running_loop()
    current = _watches.get(loop)
    if current is None:
        for old_loop in [old for old in _watches if old.is_closed()]:
            del _watches[old_loop]  # tests run a loop per test; a server, one for its life
        current = _watches[loop] = LayerWatch(loop)
    return current


def existing(loop: asyncio.AbstractEventLoop) -> LayerWatch | None:
    return _watches.get(loop)

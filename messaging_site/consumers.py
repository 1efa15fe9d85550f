"""The one WebSocket consumer at /ws/ (docs/PROTOCOL.md).

What a socket serves is not written here: `messaging_site.routing` lists every client
action and every channel-layer event with the app function that serves it, and the state
each app keeps per socket, and hands that table to the consumer (`Consumer.as_asgi(
routes=...)`). Handlers call their app's services, so no rule lives here either.

What this class owns is the connection: authentication, frame limits and error frames, a
send throttle, the groups the socket belongs to (refreshed so channels-redis's group
expiry never silently drops a socket that stays open for days), and the apps' per-socket
state, opened in the table's order once the user is known.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import layer_watch, logs, metrics
from .converters import MAX_ID
from .errors import DomainError, Invalid
from .realtime import user_group
from .text import character_problem

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
# Deeper than any frame of docs/PROTOCOL.md needs (3 levels), shallow enough that walking a
# frame is cheap and no handler meets a structure it would recurse into.
MAX_FRAME_DEPTH = 16
CLOSE_UNAUTHENTICATED = 4401
CLOSE_SERVER_ERROR = 1011

Frame = dict[str, Any]
# A client action's handler, and a channel-layer event's: (socket, frame or event).
Handler = Callable[["Consumer", Frame], Awaitable[None]]


def positive_int(frame: Frame, name: str) -> int:
    """The frame's `name`, a positive integer (an id), or Invalid."""
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"`{name}` must be a positive integer.")
    return value


def frame_problem(frame: Frame) -> str | None:
    """Why a decoded frame cannot be served whatever its action, or None: the one check of
    every string and number in it, before any handler sees it (docs/PROTOCOL.md, "Limits")."""
    pending: list[tuple[Any, int]] = [(frame, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            problem = character_problem(value)
            if problem is not None:
                return problem
        elif isinstance(value, int):  # bool is an int, and within range
            if not -MAX_ID <= value <= MAX_ID:
                return "Numbers must fit in 64 bits."
        elif isinstance(value, float):
            if not math.isfinite(value):  # 1e400 decodes to inf
                return "Numbers must be finite."
        elif isinstance(value, dict | list):
            if depth > MAX_FRAME_DEPTH:
                return f"Frames may nest at most {MAX_FRAME_DEPTH} levels deep."
            if isinstance(value, dict):
                pending.extend((key, depth) for key in value)
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)
    return None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python's json allows them


def _request_id(frame: Frame) -> str | int | None:
    """The frame's `requestId` when it can be echoed as it came, else None."""
    value = frame.get("requestId")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value if frame_problem({"requestId": value}) is None else None


class SocketState(Protocol):
    """What an app keeps per socket (followed conversations, board subscriptions...).
    `open` runs once the socket's user is known, before any frame is served; `catch_up`
    after the channel layer was unreachable, once the socket's groups are joined again:
    whatever the socket missed meanwhile, from the database."""

    @classmethod
    async def open(cls, socket: Consumer) -> Self: ...

    async def catch_up(self, socket: Consumer, since: datetime) -> None: ...

    async def close(self, socket: Consumer) -> None:
        """The socket closed (not after a failed connect: `open` did not finish)."""


State = TypeVar("State", bound=SocketState)


class StartsEmpty:
    """A socket state that starts empty: its `open` needs nothing from the socket."""

    @classmethod
    async def open(cls, socket: Consumer) -> Self:
        return cls()

    async def catch_up(self, socket: Consumer, since: datetime) -> None:
        return None

    async def close(self, socket: Consumer) -> None:
        return None


@dataclass(frozen=True)
class Action:
    """A client action: its handler, and whether the per-connection throttle counts it."""

    handler: Handler
    throttled: bool = False


@dataclass(frozen=True)
class SocketRoutes:
    """Everything one socket serves (messaging_site.routing builds the one instance)."""

    states: tuple[type[SocketState], ...]
    actions: Mapping[str, Action]
    relays: Mapping[str, Handler]


class SendThrottle:
    """A token bucket per connection: `rate` per second with bursts of `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def allow(self) -> float | None:
        """None when allowed, else the seconds until the next token."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


# Handshakes doing their setup at once, per process. Past what the process can serve, more
# concurrency only makes every handshake slower, until all of them miss Daphne's timeout
# at once: a burst of 10,000 connects got none through. Waiting their turn, in order,
# the first ones finish quickly (bench/results/PERFORMANCE-history.md, "Real-time").
CONNECT_CONCURRENCY = 32
_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _connect_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots.clear()  # a new loop (tests run one per test); one lives per server process
        _slots[loop] = asyncio.Semaphore(CONNECT_CONCURRENCY)
    return _slots[loop]


class Consumer(AsyncWebsocketConsumer):
    def __init__(self, *, routes: SocketRoutes):
        super().__init__()
        self.routes = routes
        self.groups_joined: set[str] = set()
        self.refresher: asyncio.Task | None = None
        self._states: dict[type, SocketState] = {}
        self.counted = False  # in the open sockets' gauge
        self.frames_out = 0

    def state(self, kind: type[State]) -> State:
        """This socket's state of one app (a class listed in the routes' `states`)."""
        return self._states[kind]  # type: ignore[return-value]

    async def connect(self):
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            # Accept first: closing before accepting shows as an HTTP 403, and the client
            # could not tell "who are you?" from "go away".
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # This socket's task keeps its own context: every line logged for it carries these.
        logs.bind(connection_id=uuid.uuid4().hex[:16], user_id=self.user.pk)
        self.throttle = SendThrottle(settings.WS_SEND_RATE, settings.WS_SEND_BURST)
        try:
            async with _connect_slots():
                await self.join_groups([user_group(self.user.pk)])
                for kind in self.routes.states:
                    self._states[kind] = await kind.open(self)
        except BaseException:
            # No disconnect() follows a failed connect: leave the groups joined so far, or
            # pub/sub would keep them (and the Redis subscription) for the process's life.
            await self._leave_all()
            raise
        await self.accept()
        metrics.OPEN_SOCKETS.inc()
        self.counted = True
        layer_watch.watch().sockets.add(self)
        if settings.CHANNEL_LAYER == "core":  # pub/sub subscriptions never expire
            self.refresher = asyncio.create_task(self.refresh_groups())

    async def disconnect(self, code):
        if self.counted:
            metrics.OPEN_SOCKETS.dec()
            self.counted = False
        self._unwatch()
        if self.refresher is not None:
            self.refresher.cancel()
        await self._leave_all()
        for state in self._states.values():
            try:
                await state.close(self)
            except Exception:  # one app's failure must not keep the others' from closing
                logger.exception("closing %s of user %s", type(state).__name__, self.user.pk)

    def _unwatch(self) -> None:
        watch = layer_watch.existing(asyncio.get_running_loop())
        if watch is not None:
            watch.sockets.discard(self)

    async def catch_up(self, since: datetime) -> None:
        """The channel layer is back after an outage this socket lived through, which began
        after `since`: join its groups again (Redis may have restarted empty), then let
        each app send what the socket missed, from the database. A socket that cannot
        catch up closes with 1011, and its client reconnects and syncs."""
        try:
            for group in list(self.groups_joined):
                await self.channel_layer.group_add(group, self.channel_name)
            for state in self._states.values():
                await state.catch_up(self, since)
        except Exception:
            logger.exception("closing the socket of user %s: catching up failed", self.user.pk)
            await self._fail()

    async def _leave_all(self):
        for group in list(self.groups_joined):
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)

    async def join_group(self, group: str) -> None:
        await self.join_groups([group])

    async def join_groups(self, groups: list[str]) -> None:
        self.groups_joined.update(groups)  # first, so a failure part way is still undone
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def leave_group(self, group: str) -> None:
        self.groups_joined.discard(group)
        await self.channel_layer.group_discard(group, self.channel_name)

    async def refresh_groups(self):
        """RedisChannelLayer forgets a group member `group_expiry` after its group_add, open
        socket or not: add again well before that."""
        interval = max(0.5, settings.CHANNEL_GROUP_EXPIRY / 2)
        while True:
            await asyncio.sleep(interval)
            for group in list(self.groups_joined):
                await self.channel_layer.group_add(group, self.channel_name)

    async def dispatch(self, message):
        try:
            await self._dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            # A fault of the server's, not of the frame (frame_problem and the handlers'
            # Invalid cover those): the database or Redis went away, or a bug. The socket
            # closes with 1011 so the client reconnects and resends what was not acked;
            # first it leaves its groups, which an exception escaping to Daphne would leave
            # subscribed for the life of the process, and the traceback is logged once.
            logger.exception(
                "closing the socket of user %s: serving %r failed",
                getattr(getattr(self, "user", None), "pk", None),
                message.get("type"),
            )
            await self._fail()

    async def _fail(self) -> None:
        self._unwatch()
        if self.refresher is not None:
            self.refresher.cancel()
        try:
            await self._leave_all()
        except Exception:  # Redis itself is down: the groups expire on their own
            logger.warning("could not leave the groups of a failed socket", exc_info=True)
        await self.close(code=CLOSE_SERVER_ERROR)

    async def _dispatch(self, message):
        # Channels closes stale DB connections before every handler, on the one shared
        # database thread (channels#2132): a hop per frame, connect and disconnect. Every
        # database call here goes through messaging_site.db, which closes them itself.
        if message["type"].startswith("websocket."):
            return await getattr(self, get_handler_name(message))(message)
        relay = self.routes.relays.get(message["type"])
        if relay is None:
            # A process of another version (a rolling deploy) may publish a type this one
            # does not know: the socket carries on, and its seq cursors fill any gap.
            logger.warning("no relay for channel-layer event %r; dropped", message["type"])
            return
        sent = self.frames_out
        await relay(self, message)
        committed = message.get("committed_at")
        if committed is not None and self.frames_out > sent:
            metrics.COMMIT_TO_FRAME.observe(time.time() - committed)

    async def receive(self, text_data=None, bytes_data=None):
        frame = await self._read(text_data)
        if frame is None:
            metrics.frames_received.inc("invalid")
            return
        request_id, name = frame["requestId"], frame["action"]
        route = self.routes.actions.get(name)
        # Only the table's own names become labels: a client cannot make new series.
        metrics.frames_received.inc(name if route is not None else "unknown")
        if route is None:
            await self.send_error("unknown_action", f"Unknown action {name[:64]!r}.", request_id)
            return
        if route.throttled and settings.THROTTLES_ENABLED:
            wait = self.throttle.allow()
            if wait is not None:
                await self.send_error(
                    "rate_limited", f"Too many messages; try again in {wait:.1f} s.", request_id
                )
                return
        conversation = frame.get("conversationId") or frame.get("roomId")
        about = {"conversation_id": conversation} if isinstance(conversation, int) else {}
        with logs.bound(**about):
            try:
                await route.handler(self, frame)
            except DomainError as error:
                await self.send_error(error.code, error.message, request_id)

    async def _read(self, text_data: str | None) -> Frame | None:
        """The frame, with an action and its requestId as echoed; or None, once the error
        frame saying why it cannot be served is sent."""
        if text_data is None:
            await self.send_error("invalid", "Frames must be JSON text.")
            return None
        # A character is at most 4 bytes in UTF-8: short frames need no encoding to check.
        if len(text_data) > MAX_FRAME_BYTES or (
            len(text_data) * 4 > MAX_FRAME_BYTES and len(text_data.encode()) > MAX_FRAME_BYTES
        ):
            await self.send_error("too_large", "Frames are limited to 64 KiB.")
            return None
        try:
            frame = json.loads(text_data, parse_constant=_refuse_constant)
        except RecursionError:
            await self.send_error(
                "invalid", f"Frames may nest at most {MAX_FRAME_DEPTH} levels deep."
            )
            return None
        except ValueError:
            await self.send_error("invalid", "Frames must be valid JSON.")
            return None
        if not isinstance(frame, dict):
            await self.send_error("invalid", "A frame must be a JSON object.")
            return None
        request_id = _request_id(frame)
        problem = frame_problem(frame)
        if problem is not None:
            await self.send_error("invalid", problem, request_id)
            return None
        if not isinstance(frame.get("action"), str):
            await self.send_error("invalid", "`action` must be a string.", request_id)
            return None
        frame["requestId"] = request_id
        return frame

    async def send_error(self, code: str, message: str, request_id=None):
        if code == "conflict":
            code = "invalid"  # docs/PROTOCOL.md has no conflict code for sockets
        await self.send_json(
            {"action": "error", "code": code, "message": message, "requestId": request_id}
        )

    async def send_json(self, payload: dict):
        await self.send(text_data=json.dumps(payload, separators=(",", ":"), ensure_ascii=False))

    async def send(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None:
            self.frames_out += 1
            metrics.frames_sent.inc(metrics.frame_action(text_data))
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)


async def close_session(socket: Consumer, event: Frame) -> None:
    """`session.close`: the user was deactivated or signed out everywhere, so every socket
    of theirs closes; with `only`, those authenticated that way (a revoked token's)
    (docs/PROTOCOL.md, "Connection")."""
    only = event.get("only")
    if only is None or only == socket.scope.get("auth"):
        await socket.close(code=CLOSE_UNAUTHENTICATED)


async def ping(socket: Consumer, frame: Frame) -> None:
    """`{"action":"ping"}` -> `{"action":"pong"}`: a browser cannot see WebSocket-level
    pings, so a client that wonders whether a quiet socket is still alive (after sleep, a
    network change) asks (docs/PROTOCOL.md, "Connection")."""
    await socket.send_json({"action": "pong", "requestId": frame["requestId"]})

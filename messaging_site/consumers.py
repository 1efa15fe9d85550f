"""The one WebSocket consumer at /ws/.

Frames are JSON objects with an `action`; a dispatch table maps actions to handlers that
each app contributes (the real protocol arrives with the real-time work). Whatever a
client sends, a bad frame gets an error frame and the socket stays open.
"""

import json
from collections.abc import Awaitable, Callable

from channels.generic.websocket import AsyncWebsocketConsumer

from .realtime import user_group

MAX_FRAME_BYTES = 64 * 1024
CLOSE_UNAUTHENTICATED = 4401

Handler = Callable[["Consumer", dict], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}


class Consumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            # Accept first: closing before accepting shows as an HTTP 403, and the client
            # could not tell "who are you?" from "go away".
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_group = user_group(self.user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "user_group", None):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            await self.send_error("invalid", "Frames must be JSON text.")
            return
        # A character is at most 4 bytes in UTF-8: short frames need no encoding to check.
        if len(text_data) > MAX_FRAME_BYTES or (
            len(text_data) * 4 > MAX_FRAME_BYTES and len(text_data.encode()) > MAX_FRAME_BYTES
        ):
            await self.send_error("too_large", "Frames are limited to 64 KiB.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid", "Frames must be valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.send_error("invalid", "A frame must be a JSON object.")
            return
        request_id = frame.get("requestId")
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
        action = frame.get("action")
        if not isinstance(action, str):
            await self.send_error("invalid", "`action` must be a string.", request_id)
            return
        handler = HANDLERS.get(action)
        if handler is None:
            await self.send_error("unknown_action", f"Unknown action {action[:64]!r}.", request_id)
            return
        await handler(self, frame)

    async def send_error(self, code: str, message: str, request_id=None):
        await self.send_json(
            {"action": "error", "code": code, "message": message, "requestId": request_id}
        )

    async def send_json(self, payload: dict):
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def session_close(self, event):
        """The user was deactivated: their sockets close (SPEC section 3)."""
        await self.close(code=CLOSE_UNAUTHENTICATED)

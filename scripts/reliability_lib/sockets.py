"""WebSocket clients that record every frame with its arrival time, and a REST client.

A `Recorder` is one open socket (the `websockets` package, as tests/test_e2e_realtime.py
uses it, authenticated with `?token=`); a task reads it for as long as it is open and
notes how and when it closed. Nothing here reconnects.
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import requests
import websockets

REST_TIMEOUT = 15


@dataclass
class Recorder:
    name: str
    url: str
    frames: list = field(default_factory=list)  # (arrived, frame)
    closed_at: float | None = None
    close_code: int | None = None
    socket: object = None
    reader: asyncio.Task | None = None

    async def open(self) -> "Recorder":
        self.socket = await websockets.connect(self.url, max_size=2**22, ping_interval=None)
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for text in self.socket:
                self.frames.append((time.monotonic(), json.loads(text)))
        except websockets.ConnectionClosed:
            pass
        self.closed_at = time.monotonic()
        self.close_code = self.socket.close_code

    async def send(self, frame: dict) -> None:
        await self.socket.send(json.dumps(frame))

    async def wait_for(self, predicate, seconds: float) -> tuple[float, dict] | None:
        """The first recorded (arrived, frame) matching `predicate`, waiting up to `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            for item in self.frames:
                if predicate(item[1]):
                    return item
            if time.monotonic() > deadline or self.closed_at is not None:
                return None
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.reader, 5)


def ws_url(base_url: str, token: str) -> str:
    return base_url.replace("http://", "ws://") + f"/ws/?token={token}"


@dataclass
class Answer:
    started: float
    ended: float
    status: int | None  # None: no answer (timeout, connection error)
    body: dict | None
    error: str = ""


class Rest:
    """A signed-in REST client (token); every call is timed and never raises."""

    def __init__(self, base_url: str, token: str):
        self.base = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, payload: dict | None = None) -> Answer:
        started = time.monotonic()
        try:
            response = self.session.request(
                method, self.base + path, json=payload, timeout=REST_TIMEOUT
            )
        except requests.RequestException as error:
            return Answer(started, time.monotonic(), None, None, type(error).__name__)
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(started, time.monotonic(), response.status_code, body)

    def post(self, path: str, payload: dict) -> Answer:
        return self.call("POST", path, payload)

"""The web process freezes its warm heap once, after its first connections."""

import pytest

from messaging_site import gc_freeze


@pytest.mark.asyncio
async def test_freezes_once_after_the_warm_up_connections(monkeypatch):
    frozen, served = [], []
    monkeypatch.setattr(gc_freeze, "freeze", lambda: frozen.append(len(served)))

    async def app(scope, receive, send):
        served.append(scope["type"])

    wrapped = gc_freeze.FreezeAfterWarmUp(app, after=3)
    for kind in ("http", "lifespan", "websocket", "http", "http", "http"):
        await wrapped({"type": kind}, None, None)
    # Once, as the third HTTP or WebSocket connection comes in (lifespan is not counted).
    assert frozen == [3]
    assert len(served) == 6

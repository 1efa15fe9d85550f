"""Keep the cyclic garbage collector's full passes short in the web processes.

A Daphne process holds a few hundred thousand long-lived objects (Django, DRF, Twisted,
the URL resolvers, compiled templates), and every full (generation 2) collection walked
all of them with the process frozen, several times a minute under load: those pauses
were the REST send's p99 (bench/results/PERFORMANCE-history.md, "REST send").
`gc.freeze()` moves every object alive at that moment out of the collector's sight: it
is still freed by reference counting, only never scanned again. Freezing after the
imports, and once more after the first requests have built the lazily made objects
(URL resolvers, serializers, database and Redis connections), cut the full passes to a
small fraction. A cycle of frozen objects that later becomes garbage is never collected;
freezing right after a full collection keeps that to objects alive at the time.
"""

import gc

__all__ = ["FreezeAfterWarmUp", "freeze"]


def freeze() -> None:
    gc.collect()
    gc.freeze()


class FreezeAfterWarmUp:
    """ASGI middleware: `freeze()` once, when the process has seen `after` connections
    (HTTP requests and WebSocket connections alike)."""

    def __init__(self, app, after: int = 500):
        self.app = app
        self.remaining = after

    async def __call__(self, scope, receive, send):
        if self.remaining > 0 and scope["type"] in ("http", "websocket"):
            self.remaining -= 1
            if self.remaining == 0:
                freeze()
        return await self.app(scope, receive, send)

"""Django's HTTP side under Daphne: each request is one hand-over to a thread.

Django's ASGI handler runs a sync view (all of ours: DRF is sync) in a new thread per
request, and with middleware that is async-capable it goes back and forth between that
thread and the event loop around every middleware: about twenty hand-overs for one
request here. Each costs a wake-up and the GIL; starting the thread blocks the event
loop until the new thread gets the GIL; and the database connection stays checked out
until the last hand-over closes it. Under 100 REST sends a second, 14 threads on average
waited for a pool connection while 12 threads holding one sat idle, waiting for the loop
(py-spy); this handler took a send's server CPU from 8.8 to 6.7 ms (docs/PERFORMANCE.md,
"REST send").

This handler builds the middleware chain as the WSGI handler does, synchronous, and runs
the whole request (middleware, view, rendering) in one call on the process's database
threads (messaging_site.db), which outlive requests. As in Channels' database wrapper,
stale connections are closed before and after, in that thread, so the connection goes
back to the pool as soon as the response is built. Reading the body and sending the
response stay on the loop, as in Django's handler. What is lost: async views and async
middleware run through `async_to_sync`; none of ours are async.
"""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.db import close_old_connections

from .db import executor
from .realtime import bind_loop

__all__ = ["ASGIHandler"]


class ASGIHandler(DjangoASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        # Django's handler opens a ThreadSensitiveContext here: a new thread per request.
        # Nothing thread-sensitive runs in our requests; the signals' receivers that
        # `handle` still runs that way go to asgiref's one shared thread.
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def get_response_async(self, request):
        bind_loop()
        return await sync_to_async(self._get_response_in_thread, thread_sensitive=False,
                                   executor=executor)(request)  # fmt: skip

    def _get_response_in_thread(self, request):
        close_old_connections()
        try:
            return self.get_response(request)
        finally:
            close_old_connections()

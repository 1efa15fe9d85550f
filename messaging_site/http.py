"""Django's HTTP side under Daphne: each request is one hand-over to a thread.

Django's ASGI handler runs a sync view (all of ours: DRF is sync) in a new thread per
request, and with middleware that is async-capable it goes back and forth between that
thread and the event loop around every middleware: about twenty hand-overs for one
request here. Each costs a wake-up and the GIL; starting the thread blocks the event
loop until the new thread gets the GIL; and the database connection stays checked out
until the last hand-over closes it. Under load, threads waited for a pool connection
while threads holding one sat idle, waiting for the loop. What this handler buys, against
Django's in the same run: docs/PERFORMANCE.md, "What the product's own choices buy"; why
it may lean on Django's handler: docs/ARCHITECTURE.md, "Framework internals".

This handler builds the middleware chain as the WSGI handler does, synchronous, and runs
the whole request (middleware, view, rendering) in one call on the process's database
threads (messaging_site.db), which outlive requests. As in Channels' database wrapper,
stale connections are closed before and after, in that thread, so the connection goes
back to the pool as soon as the response is built. Reading the body and sending the
response stay on the loop, as in Django's handler. What is lost: async views and async
middleware run through `async_to_sync`; none of ours are async.
"""

import asyncio
from contextlib import closing

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.asgi import get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

from .db import executor
from .realtime import bind_loop

__all__ = ["ASGIHandler"]


class _Sent(Exception):
    pass


class ASGIHandler(DjangoASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        # Django's handler opens a ThreadSensitiveContext here: a new thread per request.
        # Nothing thread-sensitive runs in our requests.
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # Daphne takes `root_path` from any client's `Daphne-Root-Path` header, and Django
        # prefixes every URL it builds with it: links stored with a message (its
        # attachments') would point wherever a sender said. The product is served at the
        # root; a deployment under a prefix sets FORCE_SCRIPT_NAME, which Django prefers.
        await self.handle({**scope, "root_path": ""}, receive, send)

    async def handle(self, scope, receive, send):
        """Django's `handle`, except that the request signals and the closing of the
        response run in the request's own call on the database threads. Django sends
        each signal from the event loop, a hand-over to asgiref's one shared thread
        each: two more hand-overs per request, through one thread for all of them."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            set_script_prefix(get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None  # noqa: S101 - create_request gives one
                await self.send_response(error_response, send)
                return
            bind_loop()
            respond = sync_to_async(self._respond, thread_sensitive=False, executor=executor)
            response = None
            try:
                try:
                    # As in Django: a client that goes away stops the wait for the answer.
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self.listen_for_disconnect(receive))
                        response = await respond(request)
                        assert response is not None  # noqa: S101 - for the type checker
                        await self.send_response(response, send)
                        raise _Sent
                except* (_Sent, RequestAborted):
                    pass
            except BaseExceptionGroup as group:
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise
            if response is not None and response.streaming:
                await sync_to_async(response.close, thread_sensitive=False, executor=executor)()

    def _respond(self, request):
        # The receivers: close_old_connections (so a connection goes back to the pool as
        # soon as the response is built) and reset_queries.
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        try:
            response = self.get_response(request)
        except BaseException:
            signals.request_finished.send(sender=self.__class__)
            raise
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # sends request_finished; the content is already bytes
        return response

"""Request body limit for every HTTP request, enforced before Django reads the body.

Django's ASGI handler spools the whole body before any middleware runs, and Django's
own check (DATA_UPLOAD_MAX_MEMORY_SIZE) comes only once it is spooled, so the limit has
to sit in front of Django: a declared Content-Length over the limit is refused at once,
and a body without one (chunked) is counted as it arrives and refused as soon as it
passes the limit.

A path may have a larger limit of its own (the upload endpoint, SPEC section 13; a
campaign's recipients); the upload view checks the file's own size, since a multipart
body is a little larger than its file.
"""

import json

from .text import human_size

# What a multipart body may add to its file: boundaries, part headers, a long file name.
MULTIPART_ALLOWANCE = 64 * 1024


def too_large_body(limit: int) -> bytes:
    return json.dumps(
        {"detail": f"Request body is larger than {human_size(limit)}.", "code": "too_large"}
    ).encode()


class BodySizeLimitMiddleware:
    def __init__(self, app, max_bytes: int, *, larger: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        # path -> its limit
        self.larger = larger or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)

        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None:
            if declared.strip().isdigit() and int(declared) > limit:
                return await self._refuse(send, limit)
            return await self.app(scope, receive, send)

        buffered = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await self._refuse(send, limit)
            if not message.get("more_body", False):
                break

        async def replay():
            if buffered:
                return buffered.pop(0)
            return await receive()

        return await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send, limit: int):
        body = too_large_body(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

"""Request body limit for every HTTP request, enforced before Django reads the body.

Django's ASGI handler spools the whole body before any middleware runs, and DRF's JSON
parser ignores DATA_UPLOAD_MAX_MEMORY_SIZE, so the limit has to sit in front of Django:
a declared Content-Length over the limit is refused at once, and a body without one
(chunked) is counted as it arrives and refused as soon as it passes the limit.
"""

import json

TOO_LARGE_BODY = json.dumps(
    {"detail": "Request body is larger than 1 MiB.", "code": "too_large"}
).encode()


class BodySizeLimitMiddleware:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None:
            if declared.strip().isdigit() and int(declared) > self.max_bytes:
                return await self._refuse(send)
            return await self.app(scope, receive, send)

        buffered = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break

        async def replay():
            if buffered:
                return buffered.pop(0)
            return await receive()

        return await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send):
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": TOO_LARGE_BODY})

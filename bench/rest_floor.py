"""The floor under bench/rest_send.py: what the prescribed stack costs before any of our
work, on the machine at hand. Each level answers the same POST as the product (201 and a
message's JSON) and does strictly less than a send:

- `asgi`: a bare ASGI application under Daphne: reads the body, sends a fixed answer.
  What Daphne and Twisted cost alone.
- `django`: one Django function view behind Django's own ASGI handler and the middleware
  of `startproject` that needs no database: parses the JSON, answers with JsonResponse.
- `drf`: one DRF APIView (no authentication, no throttle, no database): the body through
  a Serializer with the product's two fields, the answer through DRF's Response.
- `handler`: the same DRF view behind the product's HTTP handler
  (messaging_site/http.py: the whole request in one call on a thread that outlives it)
  instead of Django's: the floor of the product's own design.

None of them authenticates, throttles, persists or publishes, which the product does on
every send; a level's latency is a lower bound for the product's on the same machine.
Run by bench/rest_send.py (`--target asgi|django|drf|handler`) under the same launcher,
process count and Locust users as the product:

    FLOOR_LEVEL=django daphne -b 127.0.0.1 -p 8002 bench.rest_floor:application
"""

import json
import os

LEVEL = os.environ.get("FLOOR_LEVEL", "asgi")
ANSWER = {  # the shape of the product's answer to a send
    "id": 1,
    "conversation": 1,
    "seq": 1,
    "sender": 1,
    "sender_username": "bench",
    "text": "load test message",
    "client_id": "0" * 32,
    "created_at": "2026-12-01T00:00:00.000000Z",
    "deleted_at": None,
}
ANSWER_BYTES = json.dumps(ANSWER).encode()


async def asgi_application(scope, receive, send):
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER_BYTES})


if LEVEL == "asgi":
    application = asgi_application
else:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench-only",  # noqa: S106
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"]
            + (["rest_framework"] if LEVEL in {"drf", "handler"} else []),
            MIDDLEWARE=[
                "django.middleware.security.SecurityMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.clickjacking.XFrameOptionsMiddleware",
            ],
            DATABASES={},
            REST_FRAMEWORK={
                "DEFAULT_AUTHENTICATION_CLASSES": [],
                "DEFAULT_PERMISSION_CLASSES": [],
                "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
                "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
                "UNAUTHENTICATED_USER": None,
            },
            DATABASE_POOL_MAX=10,  # the product's default: messaging_site.db sizes its threads
        )
        django.setup(set_prefix=False)

    from django.core.asgi import get_asgi_application
    from django.http import JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def django_send(request, conversation_id):
        body = json.loads(request.body)
        return JsonResponse({**ANSWER, "text": body["text"]}, status=201)

    views = {"django": django_send}
    if LEVEL in {"drf", "handler"}:
        from rest_framework import serializers
        from rest_framework.response import Response
        from rest_framework.views import APIView

        class SendSerializer(serializers.Serializer):
            text = serializers.CharField(max_length=4000)
            client_id = serializers.CharField(max_length=64, required=False)

        class DRFSend(APIView):
            def post(self, request, conversation_id):
                data = SendSerializer(data=request.data)
                data.is_valid(raise_exception=True)
                return Response({**ANSWER, "text": data.validated_data["text"]}, status=201)

        views["drf"] = views["handler"] = DRFSend.as_view()

    urlpatterns = [path("api/conversations/<int:conversation_id>/messages/", views[LEVEL])]
    if LEVEL == "handler":
        from messaging_site.http import ASGIHandler

        application = ASGIHandler()
    else:
        application = get_asgi_application()

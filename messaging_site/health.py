"""`/healthz`: 200 only when both the database and Redis answer; 503 naming what is down."""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health check: database down")
        return False
    return True


def check_redis() -> bool:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        logger.exception("health check: redis down")
        return False
    finally:
        client.close()


@never_cache
@require_GET
def healthz(request):
    parts = {
        "database": "ok" if check_database() else "down",
        "redis": "ok" if check_redis() else "down",
    }
    healthy = all(state == "ok" for state in parts.values())
    return JsonResponse(parts, status=200 if healthy else 503)

"""One redis-py client per process and Redis URL, for what this project asks of Redis
besides the channel layer and the Celery broker: atomic scripts (the throttles'
sliding windows, the SMS limiter). A client is thread-safe and pools its connections, so
every thread of a process shares it; a new client per request would open a new TCP
connection and run redis-py's handshake each time, as Django's cache does under ASGI
(bench/results/PERFORMANCE-history.md, "REST send")."""

import threading

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def client() -> redis.Redis:
    """This process's client for REDIS_URL."""
    url = settings.REDIS_URL
    found = _clients.get(url)
    if found is None:
        with _lock:
            found = _clients.setdefault(url, redis.Redis.from_url(url))
    return found


def key(*parts: object) -> str:
    """A key under this deployment's REDIS_KEY_PREFIX, which keeps deployments (and a test
    run beside `make run`) apart in one Redis database."""
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(part) for part in parts)])

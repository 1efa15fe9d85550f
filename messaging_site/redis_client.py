"""One redis-py client per process and Redis URL, for what this project asks of Redis
besides the channel layer and the Celery broker: atomic scripts (the throttles'
sliding windows, the SMS limiter). A client is thread-safe and pools its connections, so
every thread of a process shares it; a new client per request would open a new TCP
connection and run redis-py's handshake each time, as Django's cache does under ASGI
(bench/results/PERFORMANCE-history.md, "REST send")."""

import threading

import redis
from django.conf import settings
from redis.commands.core import Script

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


# Best-effort callers (presence) give up rather than wait on a Redis that does not answer
# (paused, or its host gone): a request or a socket must not hang on them.
QUICK_TIMEOUT_SECONDS = 1.0


def client(*, quick: bool = False) -> redis.Redis:
    """This process's client for REDIS_URL; `quick`: one whose calls fail after
    QUICK_TIMEOUT_SECONDS instead of waiting."""
    url = settings.REDIS_URL
    name = f"quick {url}" if quick else url
    found = _clients.get(name)
    if found is None:
        timeouts = (
            {
                "socket_timeout": QUICK_TIMEOUT_SECONDS,
                "socket_connect_timeout": QUICK_TIMEOUT_SECONDS,
            }
            if quick
            else {}
        )
        with _lock:
            found = _clients.setdefault(name, redis.Redis.from_url(url, **timeouts))
    return found


_scripts: dict[tuple[int, str], Script] = {}


def script(source: str, *, quick: bool = False) -> Script:
    """A Lua script registered with this process's client (its SHA sent, the source only
    when Redis has not cached it); `quick` as for `client`."""
    found = client(quick=quick)
    registered = _scripts.get((id(found), source))
    if registered is None:
        registered = _scripts[id(found), source] = found.register_script(source)
    return registered


def key(*parts: object) -> str:
    """A key under this deployment's REDIS_KEY_PREFIX, which keeps deployments (and a test
    run beside `make run`) apart in one Redis database."""
    return ":".join([settings.REDIS_KEY_PREFIX, *(str(part) for part in parts)])

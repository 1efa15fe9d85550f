"""Django's Redis cache with one client (and so one connection pool) per process.

Under ASGI Django builds its cache objects per request context, and `RedisCache` builds a
new client, with a new connection pool, per object: every request that touched the cache
(each throttled write does) opened a new TCP connection to Redis and ran redis-py's
handshake, which reads package metadata. That was a third of a REST send's CPU
(py-spy, docs/PERFORMANCE.md "Real-time"). Clients are thread-safe; share them.
"""

import threading

from django.core.cache.backends.redis import RedisCache

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    @property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _clients.get(key)
        if client is None:
            with _lock:
                client = _clients.setdefault(key, self._class(self._servers, **self._options))
        return client

    def redis(self):
        """This process's one redis-py client for the (first, writable) cache server, for
        what the cache API cannot say, such as an atomic script (messaging_site.throttling).
        """
        client = self._cache
        if not hasattr(client, "shared_redis"):
            client.shared_redis = client._client(connection_pool=client._get_connection_pool(True))
        return client.shared_redis

"""Django's Redis cache backend with one client, and so one connection pool, per process.

Django keeps a cache object per request context, and its Redis backend gives every such object a
connection pool of its own: under ASGI each request therefore opened (and handshook) a new Redis
connection for its first cache call, e.g. the device token's replay check. Measured in the bench
profile as most of that check's cost. Here the client is shared by every cache object of the same
servers and options in this process (redis-py's pool is thread-safe), and made again after a fork.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple[int, tuple[str, ...], str], RedisCacheClient] = {}
_lock = threading.Lock()


class RedisCache(DjangoRedisCache):
    # set by Django's __init__ (not in its type stubs)
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]

    @cached_property
    def _cache(self) -> Any:
        key = (os.getpid(), tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client

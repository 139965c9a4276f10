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

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple[int, tuple[str, ...], str], RedisCacheClient] = {}
_lock = threading.Lock()


class _SharedClient(RedisCacheClient):
    """Django's client makes a new redis.Redis object (a ~170-entry callbacks table) on every cache
    call; one per pool is enough, as redis.Redis is thread-safe."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redis_clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]  # not in the stubs
        client = self._redis_clients.get(index)
        if client is None:
            client = self._redis_clients[index] = super().get_client(key, write=write)
        return client


class RedisCache(DjangoRedisCache):
    # set by Django's __init__ (not in its type stubs)
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClient

    @cached_property
    def _cache(self) -> Any:
        key = (os.getpid(), tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client


def cache_count(key: str, *, timeout: int) -> int:
    """Add one to a counter in the cache that lives `timeout` seconds from its first count, and
    return the new count (a fixed window per key). Raises what the cache raises when it cannot be
    reached: callers decide whether to fail open."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr: this count starts a new window
        cache.set(key, 1, timeout=timeout)
        return 1

"""The Redis cache backend shares one client (one connection pool) per process."""

from __future__ import annotations

from nemid_app_backend.cache import RedisCache


def test_cache_objects_of_the_same_servers_share_one_client():
    first = RedisCache("redis://127.0.0.1:6379/3", {"OPTIONS": {"socket_timeout": 2}})
    second = RedisCache("redis://127.0.0.1:6379/3", {"OPTIONS": {"socket_timeout": 2}})
    other = RedisCache("redis://127.0.0.1:6379/4", {"OPTIONS": {"socket_timeout": 2}})
    assert first._cache is second._cache
    assert first._cache is not other._cache


def test_the_client_reuses_one_redis_object_per_pool():
    cache = RedisCache("redis://127.0.0.1:6379/5", {})
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=False)

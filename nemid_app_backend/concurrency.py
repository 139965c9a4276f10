"""Caps on concurrent work per client: how many long polls and WebSockets one relying party, or one
device, holds open at once.

A holder takes a *lease* on one of the `limit` slots of a key (`Slots.take`) and gives it back when
it ends (`Slots.give_back`, or `Slots.hold` around a block). Leases live

- in Redis when REDIS_URL is set, so that a cap holds across server processes: one sorted set per
  key, whose members are lease ids scored with the lease's expiry in Redis's own clock. Taking a
  slot is one Lua script (drop expired leases, count, add when below the cap). A thread of each
  process keeps the leases the process holds alive, pushing their expiry LEASE_TTL seconds ahead
  every LEASE_REFRESH seconds, all of them in one round trip. The leases of a process that dies
  are not refreshed and expire: a crash frees its slots within LEASE_TTL seconds by itself, as a
  client's disconnect frees its slot at once;
- in this process otherwise (embedded mode: one server process).

When Redis cannot be reached the cap is kept per process: an outage neither refuses every client
nor lifts the cap.

Synchronous, so that the same calls serve the synchronous long-poll view and (through
`sync_to_async`) the WebSocket consumers, whatever event loop, if any, the caller runs on.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from django.conf import settings

from nemid_app_backend.exceptions import ApplicationError, TooManyConcurrentRequestsError

logger = logging.getLogger(__name__)

LEASE_TTL = 30.0  # seconds a lease outlives the last refresh by its process
LEASE_REFRESH = 10.0
RETRY_AFTER = 1  # seconds: slots free up as other waits end
KEY_PREFIX = "nemid:slots:"

_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

# KEYS[1] the key's sorted set; ARGV: cap, lease id, TTL in ms. 1 when taken, 0 when full.
_TAKE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
)

# KEYS: sorted sets; ARGV[1] TTL in ms, then one lease id per key. A lease that is gone (Redis
# restarted, or this process stalled past the TTL) is added again: its holder is still there.
_REFRESH = (
    _NOW
    + """
for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now + tonumber(ARGV[1]), ARGV[i + 1])
    redis.call('PEXPIRE', key, tonumber(ARGV[1]))
end
return #KEYS
"""
)

# KEYS[1]: the unexpired leases of the key.
_COUNT = _NOW + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"


@dataclass(frozen=True)
class Lease:
    key: str  # the full key: KEY_PREFIX, the Slots' name, the client
    lease_id: str
    in_redis: bool


# --- in this process ---

_local: dict[str, set[str]] = {}
_local_lock = threading.Lock()


def _local_take(key: str, limit: int, lease_id: str) -> bool:
    with _local_lock:
        held = _local.setdefault(key, set())
        if len(held) >= limit:
            return False
        held.add(lease_id)
        return True


def _local_give_back(key: str, lease_id: str) -> None:
    with _local_lock:
        held = _local.get(key)
        if held is not None:
            held.discard(lease_id)
            if not held:
                del _local[key]


def _local_count(key: str) -> int:
    with _local_lock:
        return len(_local.get(key, ()))


# --- in Redis ---


class _RedisLeases:
    """This process's Redis client for leases, the leases it holds, and the thread refreshing them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.take = self.client.register_script(_TAKE)
        self.refresh_script = self.client.register_script(_REFRESH)
        self.count = self.client.register_script(_COUNT)
        self.held: dict[str, str] = {}  # lease id -> key
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.refresher: threading.Thread | None = None

    def hold(self, lease: Lease) -> None:
        with self.lock:
            self.held[lease.lease_id] = lease.key
            if self.refresher is None or not self.refresher.is_alive():
                self.refresher = threading.Thread(target=self._refresh_while_held, name="concurrency-leases", daemon=True)
                self.refresher.start()

    def release(self, lease: Lease) -> None:
        with self.lock:
            self.held.pop(lease.lease_id, None)

    def _refresh_while_held(self) -> None:
        while True:
            self.wake.wait(LEASE_REFRESH)
            self.wake.clear()
            with self.lock:
                if not self.held:
                    self.refresher = None
                    return
            self.refresh()

    def refresh(self) -> None:
        with self.lock:
            held = list(self.held.items())
        if not held:
            return
        try:
            self.refresh_script(keys=[key for _, key in held], args=[int(LEASE_TTL * 1000), *[lease for lease, _ in held]])
        except Exception as exc:  # the next round tries again; meanwhile the leases may lapse
            logger.warning("concurrency leases not refreshed: %s: %s", type(exc).__name__, exc)


_redis_by_process: dict[tuple[int, str], _RedisLeases] = {}
_redis_lock = threading.Lock()


def _redis_leases() -> _RedisLeases:
    """Made per process (after a fork, the child's own) and per URL."""
    key = (os.getpid(), settings.REDIS_URL)
    with _redis_lock:
        leases = _redis_by_process.get(key)
        if leases is None:
            leases = _redis_by_process[key] = _RedisLeases(settings.REDIS_URL)
        return leases


def refresh_leases() -> None:
    """Refresh this process's Redis leases now (its thread does it every LEASE_REFRESH seconds)."""
    if settings.REDIS_URL:
        _redis_leases().refresh()


# --- the cap ---


class Slots:
    """At most `limit()` concurrent holders per client; `limit()` of 0 or less: no cap."""

    def __init__(self, name: str, limit: Callable[[], int], *, what: str) -> None:
        self.name = name
        self.limit = limit
        self.what = what  # for the refusal's detail, e.g. "long polls and WebSockets of this relying party"

    def key(self, client: object) -> str:
        return f"{KEY_PREFIX}{self.name}:{client}"

    def take(self, client: object) -> Lease | None:
        """A lease on a slot of `client` (None when there is no cap); when all are taken, 429
        too_many_concurrent_requests."""
        limit = self.limit()
        if limit <= 0:
            return None
        key, lease_id = self.key(client), secrets.token_hex(12)
        if settings.REDIS_URL:
            leases = _redis_leases()
            try:
                taken = bool(leases.take(keys=[key], args=[limit, lease_id, int(LEASE_TTL * 1000)]))
            except Exception as exc:
                logger.warning("concurrency cap kept in this process: Redis unavailable: %s: %s", type(exc).__name__, exc)
            else:
                if not taken:
                    raise self.refusal(limit)
                lease = Lease(key, lease_id, in_redis=True)
                leases.hold(lease)
                return lease
        if not _local_take(key, limit, lease_id):
            raise self.refusal(limit)
        return Lease(key, lease_id, in_redis=False)

    def refusal(self, limit: int) -> ApplicationError:
        return TooManyConcurrentRequestsError(f"At most {limit} {self.what} at once.", headers={"Retry-After": str(RETRY_AFTER)})

    def give_back(self, lease: Lease | None) -> None:
        """Free the slot; giving a lease back twice is harmless."""
        if lease is None:
            return
        if not lease.in_redis:
            _local_give_back(lease.key, lease.lease_id)
            return
        leases = _redis_leases()
        leases.release(lease)
        try:
            leases.client.zrem(lease.key, lease.lease_id)
        except Exception as exc:  # the lease expires by itself within LEASE_TTL
            logger.warning("concurrency lease not given back: %s: %s", type(exc).__name__, exc)

    def in_use(self, client: object) -> int:
        """How many slots of `client` are taken now (unexpired leases of every process, or of this one)."""
        key = self.key(client)
        if settings.REDIS_URL:
            try:
                return int(_redis_leases().count(keys=[key]))  # type: ignore[arg-type]
            except Exception as exc:
                logger.warning("concurrency leases not counted: %s: %s", type(exc).__name__, exc)
        return _local_count(key)

    @contextmanager
    def hold(self, client: object) -> Iterator[None]:
        lease = self.take(client)
        try:
            yield
        finally:
            self.give_back(lease)


__all__ = ["Lease", "Slots", "refresh_leases"]

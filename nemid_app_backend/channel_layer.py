"""The Redis channel layer, with process-local consumer channels.

channels_redis's PubSub layer subscribes a Redis channel for every consumer it makes (the
consumer's own "specific" channel) and unsubscribes it when the consumer ends: two Redis round
trips per RP WebSocket and per long poll, which last a second or so each. Nothing in this service
sends to a consumer's own channel: every event is a group message (`approvals.events`), and group
membership subscribes the group's Redis channel as before. So consumer channels here are
in-process queues only, and what reaches them arrives through the groups they have joined.

Consequence: `channel_layer.send(<a consumer's channel name>)` from another process would not
arrive. Send to a group instead (every channel here has one).

Synchronous code (the WSGI server's request threads, Celery tasks) sends with `group_send_blocking`:
a group message is one Redis PUBLISH of the layer's own serialization to the layer's group
channel, so redis-py sends it from the calling thread, every message of a state change in one
round trip. Through `group_send` the same sends need an event loop: a thread of their own, and in
a busy WSGI process the wait for that thread to get the GIL was most of a push's latency.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import decode_hosts
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry


class GroupPubSubChannelLayer(RedisPubSubChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hosts = decode_hosts(kwargs.get("hosts"))
        if len(hosts) != 1 or not isinstance(hosts[0].get("address"), str):
            # Sharding would need the layer's hash ring on the blocking path too; the blocking path
            # connects by URL (the settings give `{"address": REDIS_URL}`).
            raise ImproperlyConfigured("GroupPubSubChannelLayer takes exactly one Redis host, given by its address URL.")
        self._host: dict[str, Any] = hosts[0]
        self._prefix: str = kwargs.get("prefix", "asgi")
        self._blocking: dict[float, redis.Redis] = {}  # one client (and pool) per timeout used
        self._blocking_lock = threading.Lock()

    def group_channel(self, group: str) -> str:
        """The Redis channel of a group: the PubSub layer's own naming (`<prefix>__group__<group>`)."""
        return f"{self._prefix}__group__{group}"

    def group_send_blocking(self, messages: list[tuple[str, dict[str, Any]]], *, timeout: float) -> None:
        """What `group_send` does for each (group, message), from synchronous code, in one round trip.

        Raises redis-py's errors (Redis down, or slower than `timeout` seconds). Only a connection
        error is retried, once and at once (a pooled connection that Redis closed since its last
        use). A timeout is not: the caller (a committed state change) waits at most about twice
        `timeout` (connecting, then the reply), and each message is sent once; whether Redis
        published it is then unknown, and the clients' own re-reads cover it."""
        client = self._blocking_client(timeout)
        pipe = client.pipeline(transaction=False)
        for group, message in messages:
            pipe.publish(self.group_channel(group), self.serialize(message))
        pipe.execute()

    def _blocking_client(self, timeout: float) -> redis.Redis:
        with self._blocking_lock:
            client = self._blocking.get(timeout)
            if client is None:  # redis-py's pool is thread-safe and re-made after a fork
                connect_timeout = min(timeout, self._host.get("socket_connect_timeout") or timeout)
                client = self._blocking[timeout] = redis.Redis.from_url(
                    self._host["address"],
                    socket_timeout=timeout,
                    socket_connect_timeout=connect_timeout,
                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
                )
            return client

    async def new_channel(self, prefix: str = "specific.") -> str:
        layer = self._get_layer()
        channel = f"{layer.prefix}{prefix}{uuid.uuid4().hex}"
        # What the PubSub layer's own new_channel does, without the SUBSCRIBE: the receiver
        # delivers group messages to every channel with a queue here; receive() ends with an
        # UNSUBSCRIBE of its channel only when it was subscribed, which these never are.
        layer.channels[channel] = asyncio.Queue()
        return channel

    async def receive(self, channel: str) -> Any:
        # The PubSub layer drops a channel's queue when a receive() is cancelled (a timed-out
        # wait), and its next receive() would SUBSCRIBE the channel in Redis: re-make it here.
        layer = self._get_layer()
        layer.channels.setdefault(channel, asyncio.Queue())
        return await layer.receive(channel)

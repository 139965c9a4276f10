"""The Redis channel layer, with process-local consumer channels.

channels_redis's PubSub layer subscribes a Redis channel for every consumer it makes (the
consumer's own "specific" channel) and unsubscribes it when the consumer ends: two Redis round
trips per RP WebSocket and per long poll, which last a second or so each. Nothing in this service
sends to a consumer's own channel: every event is a group message (`approvals.events`), and group
membership subscribes the group's Redis channel as before. So consumer channels here are
in-process queues only, and what reaches them arrives through the groups they have joined.

Consequence: `channel_layer.send(<a consumer's channel name>)` from another process would not
arrive. Send to a group instead (every channel here has one).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer


class GroupPubSubChannelLayer(RedisPubSubChannelLayer):
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

"""The Redis channel layer with process-local consumer channels, against a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio
import redis.exceptions
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from nemid_app_backend.channel_layer import GroupPubSubChannelLayer
from tests.realtime.redis_server import RedisServer

pytestmark = pytest.mark.redis


def _layer() -> GroupPubSubChannelLayer:
    return GroupPubSubChannelLayer(hosts=[{"address": settings.REDIS_URL}], prefix=f"test-{uuid.uuid4().hex[:8]}")


async def _subscribed(prefix: str) -> set[str]:
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    try:
        return {name.decode() if isinstance(name, bytes) else name for name in await client.pubsub_channels(f"{prefix}*")}
    finally:
        await client.aclose()


async def test_group_messages_reach_local_channels_and_only_groups_are_subscribed():
    layer, sender = _layer(), _layer()  # sender: another process's layer, as on another node
    prefix = layer._get_layer().prefix
    sender._get_layer().prefix = prefix
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("approval.a", first)
    await layer.group_add("approval.b", second)
    assert await _subscribed(prefix) == {f"{prefix}__group__approval.a", f"{prefix}__group__approval.b"}

    await sender.group_send("approval.a", {"type": "approval.changed", "id": "a"})
    assert await asyncio.wait_for(layer.receive(first), 5) == {"type": "approval.changed", "id": "a"}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(second), 0.3)  # not its group; the wait's end discards the channel

    await layer.group_discard("approval.a", first)
    await layer.group_discard("approval.b", second)
    assert await _subscribed(prefix) == set()
    await layer.flush()
    await sender.flush()


async def test_a_receive_after_a_timed_out_one_still_subscribes_nothing_and_gets_group_messages():
    layer, sender = _layer(), _layer()
    prefix = layer._get_layer().prefix
    sender._get_layer().prefix = prefix
    channel = await layer.new_channel()
    await layer.group_add("approval.c", channel)
    for _ in range(2):  # as the long poll waits: a bounded receive, again and again
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.2)
    waiting = asyncio.ensure_future(layer.receive(channel))
    await sender.group_send("approval.c", {"type": "approval.changed", "id": "c"})
    assert await asyncio.wait_for(waiting, 5) == {"type": "approval.changed", "id": "c"}
    # A receive subscribes what it needs before it waits, and a subscription outlives the receive:
    # after the message arrived, only the group is subscribed.
    assert await _subscribed(prefix) == {f"{prefix}__group__approval.c"}
    await layer.group_discard("approval.c", channel)
    await layer.flush()
    await sender.flush()


async def test_project_settings_use_it():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "nemid_app_backend.channel_layer.GroupPubSubChannelLayer"


async def test_a_blocking_group_send_from_another_thread_reaches_the_group_in_one_round_trip():
    # What the WSGI server's request threads do on commit: PUBLISH through redis-py, no event loop.
    layer = _layer()
    prefix = layer._get_layer().prefix
    sender = GroupPubSubChannelLayer(hosts=[{"address": settings.REDIS_URL}], prefix=prefix)
    assert sender.group_channel("approval.d") == f"{prefix}__group__approval.d"  # the layer's own naming
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("approval.d", first)
    await layer.group_add("citizen.d", second)
    messages = [
        ("citizen.d", {"type": "approval.closed", "id": "d", "status": "approved"}),
        ("approval.d", {"type": "approval.changed", "id": "d", "resource": {"status": "approved", "amount": "1.00"}}),
    ]
    await asyncio.to_thread(sender.group_send_blocking, messages, timeout=1.0)
    assert await asyncio.wait_for(layer.receive(second), 5) == messages[0][1]
    assert await asyncio.wait_for(layer.receive(first), 5) == messages[1][1]
    await layer.group_discard("approval.d", first)
    await layer.group_discard("citizen.d", second)
    await layer.flush()


def test_a_blocking_group_send_to_a_redis_that_is_down_fails_at_once():
    # A port nothing listens on (the discard port): refused, raised to the caller (transport logs it).
    sender = GroupPubSubChannelLayer(hosts=[{"address": "redis://127.0.0.1:9/0"}])
    with pytest.raises(redis.exceptions.ConnectionError):
        sender.group_send_blocking([("approval.e", {"type": "approval.changed"})], timeout=1.0)


def test_more_than_one_redis_host_is_refused_at_configuration():
    with pytest.raises(ImproperlyConfigured):
        GroupPubSubChannelLayer(hosts=[{"address": "redis://127.0.0.1:6379/0"}, {"address": "redis://127.0.0.1:6380/0"}])


async def test_a_blocking_group_send_that_times_out_is_not_sent_again(tmp_path):
    # Redis holds the PUBLISH past the send's timeout (its clients paused): the send gives up on
    # its one connection, without connecting again to send once more, which would hold the state
    # change's thread for another timeout and could publish the message twice.
    server = RedisServer(tmp_path)
    server.start()
    layer = GroupPubSubChannelLayer(hosts=[{"address": server.url}])
    admin = redis.Redis.from_url(server.url)
    message = {"type": "approval.changed", "id": "f"}
    try:
        channel = await layer.new_channel()
        await layer.group_add("approval.f", channel)
        # The blocking client's connection is made (and its handshake done) before the pause.
        await asyncio.to_thread(layer.group_send_blocking, [("approval.warm", {"type": "warm"})], timeout=0.3)
        connections = admin.info("stats")["total_connections_received"]
        admin.execute_command("CLIENT", "PAUSE", "800", "ALL")
        with pytest.raises(redis.exceptions.TimeoutError):
            await asyncio.to_thread(layer.group_send_blocking, [("approval.f", message)], timeout=0.3)
        assert admin.info("stats")["total_connections_received"] == connections  # answered after the pause
        received = []
        with pytest.raises(TimeoutError):
            while True:
                received.append(await asyncio.wait_for(layer.receive(channel), 1.5))
        assert received in ([], [message])  # at most once
        await layer.group_discard("approval.f", channel)
        await layer.flush()
    finally:
        admin.close()
        server.stop()


def test_a_host_without_an_address_url_is_refused_at_configuration():
    with pytest.raises(ImproperlyConfigured):
        GroupPubSubChannelLayer(hosts=[("127.0.0.1", 6379)])

"""Side effects that leave the process: channel-layer broadcasts and Celery enqueues.

Apps call these from their services, usually through `transaction.on_commit`; they never make a
committed state change look failed: a broadcast or enqueue that fails (Redis down, broker down) is
logged and dropped, and the apps recover by other means (clients poll; the webhook outbox is
delivered by the beat).
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from nemid_app_backend.channel_layer import GroupPubSubChannelLayer

logger = logging.getLogger(__name__)

BROADCAST_TIMEOUT = 1.0  # seconds a broadcast may take to connect, and again to be answered (Redis hung); clients then re-read

Messages = list[tuple[str, dict[str, Any]]]


async def _group_send_all(messages: Messages) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in messages:
        try:
            await layer.group_send(group, message)
        except Exception as exc:  # the change is committed; clients fall back to polling.
            logger.warning("channel-layer broadcast to %s failed: %s: %s", group, type(exc).__name__, exc)


def broadcast(messages: Messages) -> None:
    """Send each (group, message) once, waiting at most BROADCAST_TIMEOUT; failures are logged."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, GroupPubSubChannelLayer):
            # From this thread, one round trip (nemid_app_backend.channel_layer).
            layer.group_send_blocking(messages, timeout=BROADCAST_TIMEOUT)
        else:
            # The in-memory layer (tests, `make run`): its queues belong to the loop its consumers
            # run on, and async_to_sync runs the sends there when called from a sync_to_async thread.
            async_to_sync(_group_send_all)(messages)
    except Exception as exc:  # Redis down or hung: the change is committed; clients fall back to polling.
        logger.warning("channel-layer broadcast failed: %s: %s", type(exc).__name__, exc)


def broadcast_on_commit(messages: Messages) -> None:
    """Broadcast when the current transaction commits (at once outside one); never if it rolls back."""
    transaction.on_commit(lambda: broadcast(messages), robust=True)


def enqueue(task: Any, *args: str) -> None:
    """Publish a Celery task without the broker's long connection retries: with the broker down,
    log and move on (the caller's work is committed; what the task does is recovered elsewhere)."""
    try:
        task.apply_async(args=args, retry=False)
    except Exception as exc:
        logger.warning("could not enqueue %s: %s: %s", getattr(task, "name", task), type(exc).__name__, exc)


def enqueue_on_commit(task: Any, *args: str) -> None:
    """`enqueue` when the current transaction commits; never if it rolls back."""
    transaction.on_commit(lambda: enqueue(task, *args), robust=True)

"""Side effects that leave the process: channel-layer broadcasts and Celery enqueues.

Apps call these from their services, usually through `transaction.on_commit`; they never make a
committed state change look failed: a broadcast or enqueue that fails (Redis down, broker down) is
logged and dropped, and the apps recover by other means (clients poll; the webhook outbox is
delivered by the beat).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

BROADCAST_TIMEOUT = 1.0  # seconds a state change may wait for its broadcast (Redis hung); clients then poll

Messages = list[tuple[str, dict[str, Any]]]


async def _group_send_all(messages: Messages) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in messages:
        try:
            await layer.group_send(group, message)
        except Exception as exc:  # Redis down: the change is committed; clients fall back to polling.
            logger.warning("channel-layer broadcast to %s failed: %s: %s", group, type(exc).__name__, exc)


class _BroadcastLoop:
    """One event loop thread per process for channel-layer sends from sync code.

    async_to_sync from a thread without an event loop makes a new loop per call, and the Redis
    layer then opens a new connection per loop: ~13 ms per broadcast (measured), most of it
    connecting. A long-lived loop keeps its connection, so a send costs one round trip. Made
    lazily and per process id, so a forked Celery child makes its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(target=self._loop.run_forever, name="channel-layer-broadcast", daemon=True).start()
            return self._loop


_broadcast_loop = _BroadcastLoop()


def broadcast(messages: Messages) -> None:
    """Send each (group, message) once, waiting at most BROADCAST_TIMEOUT; failures are logged."""
    try:
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            # The in-memory layer's queues belong to the loop its consumers run on (tests, `make
            # run`): async_to_sync runs the sends there when called from a sync_to_async thread.
            async_to_sync(_group_send_all)(messages)
        else:
            future = asyncio.run_coroutine_threadsafe(_group_send_all(messages), _broadcast_loop.get())
            future.result(timeout=BROADCAST_TIMEOUT)
    except Exception as exc:
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

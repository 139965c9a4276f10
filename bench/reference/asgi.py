"""The reference's sockets and long poll as one ASGI callable (uvicorn bench.reference.asgi:application).

    /ws/v1/device                  the phone's socket: its device id is the `kid` of the token in its
                                   Authorization header (not verified); every message published to the
                                   device's channel is sent on as it is
    /ws/v1/approvals/{id}          the RP's socket: the status once it is final, then closed
    GET /api/v1/approvals/{id}     with ?wait=N, answered when the status is final or after N seconds
    GET /healthz
Per process: one psycopg async pool and one Redis pub/sub connection, whose messages go to the
sockets and long polls of this process that listen on their channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from bench.reference.common import DATABASE_URL, FINAL, POOL_SIZE, REDIS_URL, approval_channel, device_channel, jws_header

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

READ = "SELECT status FROM approval WHERE id = %s"


class Hub:
    """One Redis pub/sub connection per process; a channel is subscribed while someone here listens on it."""

    def __init__(self) -> None:
        self.pool = AsyncConnectionPool(DATABASE_URL, min_size=1, max_size=POOL_SIZE, kwargs={"autocommit": True}, open=False)
        self.redis = aioredis.Redis.from_url(REDIS_URL)
        self.pubsub = self.redis.pubsub()
        self.listeners: dict[str, set[asyncio.Queue[bytes]]] = {}
        self.confirmed: dict[str, asyncio.Future[None]] = {}  # channel -> Redis has confirmed the subscription
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pool.open()
        # Always subscribed to one channel, so that the reader's listen() does not end between listeners.
        await self.pubsub.subscribe("ref:hub")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                for queue in self.listeners.get(message["channel"].decode(), ()):
                    queue.put_nowait(message["data"])
            elif message["type"] == "subscribe":
                confirmed = self.confirmed.get(message["channel"].decode())
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)

    async def listen(self, channel: str) -> asyncio.Queue[bytes]:
        """A queue of the channel's messages, once Redis has confirmed the subscription (a message
        published after this returns reaches the queue)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        queues = self.listeners.setdefault(channel, set())
        queues.add(queue)
        if len(queues) == 1:
            self.confirmed[channel] = asyncio.get_running_loop().create_future()
            await self.pubsub.subscribe(channel)
        await self.confirmed[channel]
        return queue

    async def leave(self, channel: str, queue: asyncio.Queue[bytes]) -> None:
        queues = self.listeners.get(channel, set())
        queues.discard(queue)
        if not queues:
            self.listeners.pop(channel, None)
            self.confirmed.pop(channel, None)
            await self.pubsub.unsubscribe(channel)

    async def status(self, approval_id: str) -> str | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(READ, (approval_id,))
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def final_status(self, approval_id: str, timeout: float) -> str | None:
        """The final status, waiting up to `timeout` for it; else the current one (None: no such request)."""
        channel = approval_channel(approval_id)
        queue = await self.listen(channel)  # before the read, so that a decision in between is not missed
        try:
            status = await self.status(approval_id)
            if status is None or status in FINAL:
                return status
            with contextlib.suppress(TimeoutError):
                return (await asyncio.wait_for(queue.get(), timeout)).decode()
            return status
        finally:
            await self.leave(channel, queue)


hub: Hub | None = None
hub_ready = asyncio.Lock()


async def get_hub() -> Hub:
    global hub
    if hub is not None:
        return hub
    async with hub_ready:
        if hub is None:
            made = Hub()
            await made.start()
            hub = made
    return hub


async def respond(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    parts = scope["path"].strip("/").split("/")
    if scope["method"] == "GET" and len(parts) == 4 and parts[:3] == ["api", "v1", "approvals"]:
        wait = float(parse_qs(scope["query_string"].decode()).get("wait", ["0"])[0])
        status = await (await get_hub()).final_status(parts[3], wait)
        if status is None:
            await respond(send, 404, {"code": "not_found"})
        else:
            await respond(send, 200, {"id": parts[3], "status": status})
    elif scope["path"] == "/healthz":
        await respond(send, 200, {"status": "ok"})
    else:
        await respond(send, 404, {"code": "not_found"})


async def device_socket(scope: Scope, receive: Receive, send: Send) -> None:
    headers = dict(scope["headers"])
    token = headers.get(b"authorization", b"").decode().removeprefix("Device ")
    channel = device_channel(str(jws_header(token)["kid"]))
    await receive()  # websocket.connect
    the_hub = await get_hub()
    queue = await the_hub.listen(channel)
    await send({"type": "websocket.accept"})

    async def forward() -> None:
        while True:
            await send({"type": "websocket.send", "text": (await queue.get()).decode()})

    forwarder = asyncio.create_task(forward())
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        forwarder.cancel()
        with contextlib.suppress(BaseException):
            await forwarder
        await the_hub.leave(channel, queue)


async def approval_socket(scope: Scope, receive: Receive, send: Send, approval_id: str) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    status = await (await get_hub()).final_status(approval_id, 3600)
    await send({"type": "websocket.send", "text": json.dumps({"id": approval_id, "status": status})})
    await send({"type": "websocket.close", "code": 1000})


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await http(scope, receive, send)
    elif scope["type"] == "websocket":
        parts = scope["path"].strip("/").split("/")
        if scope["path"] == "/ws/v1/device":
            await device_socket(scope, receive, send)
        elif len(parts) == 4 and parts[:3] == ["ws", "v1", "approvals"]:
            await approval_socket(scope, receive, send, parts[3])
        else:
            await receive()
            await send({"type": "websocket.close", "code": 4404})
    elif scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

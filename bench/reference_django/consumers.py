"""The Django reference's sockets as Channels consumers (bench/reference/asgi.py's, on the channel layer).

/ws/v1/device             the phone's socket: its device id is the `kid` of the token in its
                          Authorization header (not verified); joins the device's group, and every
                          `approval.created` sent to the group is sent on as it is
/ws/v1/approvals/{id}     the RP's socket: joins the request's group, reads the status, and sends it
                          once it is final, then closes
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from bench.reference.common import FINAL, jws_header
from bench.reference_django.views import approval_group, device_group, read_status


class DeviceConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        token = dict(self.scope["headers"]).get(b"authorization", b"").decode().removeprefix("Device ")
        self.group = device_group(str(jws_header(token)["kid"]))
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def approval_created(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))


class ApprovalConsumer(AsyncWebsocketConsumer):
    done = False

    async def connect(self) -> None:
        self.approval_id = str(self.scope["url_route"]["kwargs"]["approval_id"])
        self.group = approval_group(self.approval_id)
        await self.channel_layer.group_add(self.group, self.channel_name)  # before the read: no decision missed
        await self.accept()
        status = await database_sync_to_async(read_status)(self.approval_id)
        if status is None or status in FINAL:
            await self.finish(status)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def approval_final(self, event: dict[str, Any]) -> None:
        await self.finish(str(event["status"]))

    async def finish(self, status: str | None) -> None:
        if not self.done:
            self.done = True
            await self.send(text_data=json.dumps({"id": self.approval_id, "status": status}))
            await self.close()

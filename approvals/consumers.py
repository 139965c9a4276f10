"""WebSocket consumers (placeholder until the real-time delivery work lands)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class DeviceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.close()


class ApprovalConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.close()

"""WebSocket consumers (docs/contract §5 "Subscribing instead of polling", §6 "Real-time delivery").

`/ws/v1/device`: a device, authenticated at the handshake by a device token (htm GET, htu
/ws/v1/device), receives `approval.created` / `approval.closed` for its citizen and answers pings.
`/ws/v1/approvals/{id}`: a relying party follows one request: the approval resource at once and
after every change, then a normal close (1000) once the status is final.

A refused handshake is a close before accept (HTTP 403 to the client). Nothing here changes state
except the lazy expiry of a request that runs out while an RP watches it, which goes through the
approval engine's service.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone
from redis.exceptions import RedisError

from approvals.app_settings import app_settings
from approvals.events import approval_group, approval_resource, citizen_group, final_resource
from approvals.limits import DEVICE_SOCKETS, RELYING_PARTY_WAITS
from approvals.models import ApprovalRequest
from approvals.selectors import approval_get_for_relying_party
from devices.authentication import device_token_authenticate, device_token_from_header
from devices.selectors import device_is_active
from nemid_app_backend.concurrency import Lease, Slots
from nemid_app_backend.exceptions import ApplicationError, NotFoundError
from relying_parties.authentication import bearer_token_from_header, relying_party_for_key, relying_party_remembered

logger = logging.getLogger(__name__)

DEVICE_PATH = "/ws/v1/device"
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # the device was revoked while connected, or the client holds too many sockets
CLOSE_UNAVAILABLE = 1011  # the channel layer failed: poll instead
MAX_MESSAGE = 4096
EXPIRY_RECHECK = 2.0
RP_RECHECK_MAX = 8.0  # seconds: the longest an RP socket goes without reading its request while pending


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


class _JsonConsumer(AsyncJsonWebsocketConsumer):
    """Text frames of JSON objects only; anything else gets an error message instead of a crash."""

    group: str | None = None
    slots: Slots | None = None
    lease: Lease | None = None

    async def _take_slot(self, slots: Slots, client: object) -> bool:
        """A slot of the client's cap on concurrent sockets; when they are all taken, accept and
        close at once with 1008 and the problem code as the reason (a refused handshake would tell
        the client nothing)."""
        try:
            self.lease = await sync_to_async(slots.take, thread_sensitive=False)(client)
        except ApplicationError as error:
            await self.accept(subprotocol=getattr(self, "subprotocol", None))
            await self.close(code=CLOSE_POLICY, reason=error.code)
            return False
        self.slots = slots
        return True

    async def _give_back_slot(self) -> None:
        if self.slots is not None:
            slots, lease, self.slots, self.lease = self.slots, self.lease, None, None
            await sync_to_async(slots.give_back, thread_sensitive=False)(lease)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """As channels' dispatch, without its thread hop to close stale database connections before
        every message: each database call here goes through database_sync_to_async, which closes
        them around itself, and most messages (pings, pushed events) touch no database at all."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels opens the consumer's channel on the layer before connect(): with Redis down that
        # raises, which the server would answer with a 500. Refuse (or close) the socket instead.
        try:
            await super().__call__(scope, receive, send)
        except (OSError, TimeoutError, RedisError) as exc:
            logger.warning("WebSocket closed: channel layer unavailable: %s: %s", type(exc).__name__, exc)
            try:
                await send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE})
            except Exception:  # the socket is already gone
                logger.debug("WebSocket already closed")
        finally:  # however the socket ended (disconnect gives it back already; a failure or a cancel may not)
            await asyncio.shield(self._give_back_slot())

    async def _join(self, group: str) -> bool:
        """Join the group, or refuse the handshake when the channel layer is down (clients then poll)."""
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as exc:
            logger.warning("WebSocket refused: channel layer unavailable: %s: %s", type(exc).__name__, exc)
            await self.close()
            return False
        self.group = group
        return True

    async def disconnect(self, code: int) -> None:
        await self._give_back_slot()
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # Redis down: the membership expires by itself
                logger.warning("group_discard failed")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE:
            await self.send_json({"type": "error", "code": "invalid_message", "detail": "Send one JSON object per text frame."})
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "code": "invalid_message", "detail": "Send one JSON object per text frame."})
            return
        await self.receive_json(content)


DEVICE_SUBPROTOCOL = "nemid-device"


def _device_token(scope: dict[str, Any]) -> tuple[str, str | None]:
    """The device token and the subprotocol to answer with.

    Native apps send `Authorization: Device <token>`. Browsers cannot set headers on a WebSocket,
    so they may offer the subprotocols ["nemid-device", "<token>"] instead (the token's characters
    are all valid in a subprotocol name); the server then answers with "nemid-device" only.
    """
    header = _header(scope, b"authorization")
    if header is not None:
        return device_token_from_header(header), None
    offered = scope.get("subprotocols") or []
    if len(offered) == 2 and offered[0] == DEVICE_SUBPROTOCOL:
        return device_token_from_header(f"Device {offered[1]}"), DEVICE_SUBPROTOCOL
    return device_token_from_header(None), None


class DeviceConsumer(_JsonConsumer):
    """A device's socket. Revocation closes it at once (`device_revoke` broadcasts `device.revoked`
    on commit); in case that broadcast was lost (Redis down at that moment), the device's status
    is also re-read before an event is sent when the last read is older than ACTIVE_RECHECK seconds,
    instead of on every event (a database read per message was most of a push's cost)."""

    ACTIVE_RECHECK = 10.0
    device_id: uuid.UUID | None = None
    checked_at = 0.0

    async def connect(self) -> None:
        try:
            token, subprotocol = _device_token(self.scope)
            device = await database_sync_to_async(device_token_authenticate)(token, method="GET", path=DEVICE_PATH)
        except ApplicationError:
            await self.close()
            return
        self.device_id = device.id
        self.checked_at = time.monotonic()
        self.subprotocol = subprotocol
        if not await self._take_slot(DEVICE_SOCKETS, device.id):
            return
        if not await self._join(citizen_group(device.citizen_id)):
            await self._give_back_slot()
            return
        await self.accept(subprotocol=subprotocol)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "code": "unsupported_message", "detail": 'Only {"type": "ping"} is accepted.'})

    async def _still_active(self) -> bool:
        assert self.device_id is not None
        if time.monotonic() - self.checked_at < self.ACTIVE_RECHECK:
            return True
        active = await database_sync_to_async(device_is_active)(device_id=self.device_id)
        self.checked_at = time.monotonic()
        if not active:
            await self.close(code=CLOSE_POLICY)
        return active

    async def device_revoked(self, event: dict[str, Any]) -> None:
        if event.get("device_id") == str(self.device_id):
            await self.close(code=CLOSE_POLICY)

    async def approval_created(self, event: dict[str, Any]) -> None:
        if await self._still_active():
            await self.send_json({"type": "approval.created", "approval": event["approval"]})

    async def approval_closed(self, event: dict[str, Any]) -> None:
        if await self._still_active():
            await self.send_json({"type": "approval.closed", "id": event["id"], "status": event["status"]})


Current = tuple[dict[str, Any], str, float]  # (resource, status, seconds until expiry)


def _load_for_rp(api_key: str, approval_id: uuid.UUID) -> ApprovalRequest:
    """The request if the key is valid and the request belongs to its RP; else an ApplicationError."""
    rp = relying_party_for_key(api_key)
    approval = approval_get_for_relying_party(relying_party=rp, approval_id=approval_id)
    if approval is None:
        raise NotFoundError()
    return approval


def _describe(approval: ApprovalRequest) -> Current:
    return approval_resource(approval), approval.status, (approval.expires_at - timezone.now()).total_seconds()


def _current(approval_id: uuid.UUID, *, expire: bool = False) -> Current:
    """The request now, expiring it first when it is overdue and `expire` is set."""
    approval = ApprovalRequest.objects.select_related("citizen", "relying_party").get(id=approval_id)
    if expire and approval.is_overdue():
        _expire(approval)
        approval = ApprovalRequest.objects.select_related("citizen", "relying_party").get(id=approval_id)
    return _describe(approval)


def _open_for_rp(api_key: str, approval_id: uuid.UUID) -> Current:
    """The handshake's one database trip: authenticate, load, and expire an overdue request."""
    approval = _load_for_rp(api_key, approval_id)
    if approval.is_overdue():
        return _current(approval.id, expire=True)
    return _describe(approval)


def _expire(approval: ApprovalRequest) -> None:
    """Lazy expiry through the approval engine (it locks, audits and calls the finalized hook)."""
    from approvals.services import approval_request_expire

    approval_request_expire(approval_id=approval.id)


class ApprovalConsumer(_JsonConsumer):
    approval_id: uuid.UUID | None = None
    last_status: str | None = None
    finished = False
    rechecks = 0
    expiry_timer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        approval_id = self.scope["url_route"]["kwargs"]["approval_id"]
        try:
            api_key = bearer_token_from_header(_header(self.scope, b"authorization"))
            # A key not seen lately is checked before the socket touches the channel layer.
            rp = relying_party_remembered(api_key) or await database_sync_to_async(relying_party_for_key)(api_key)
        except ApplicationError:
            await self.close()
            return
        self.approval_id = approval_id
        if not await self._take_slot(RELYING_PARTY_WAITS, rp.pk):
            return
        # Join before reading the state, so that a change between the read and the join is not lost.
        if not await self._join(approval_group(approval_id)):
            await self._give_back_slot()
            return
        try:
            current = await database_sync_to_async(_open_for_rp)(api_key, approval_id)
        except ApplicationError:
            await self._give_back_slot()
            await self.close()
            return
        await self.accept()
        await self._send(current)

    async def disconnect(self, code: int) -> None:
        self.finished = True  # a re-read still under way sends nothing and arms no other
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
        await super().disconnect(code)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "code": "unsupported_message", "detail": 'Only {"type": "ping"} is accepted.'})

    async def approval_changed(self, event: dict[str, Any]) -> None:
        resource = final_resource(event)
        if resource is not None:
            await self._send((resource, resource["status"], 0.0))  # final: the event carries all of it
        else:
            await self._send_current()

    async def _send_current(self) -> None:
        assert self.approval_id is not None
        await self._send(await database_sync_to_async(_current)(self.approval_id, expire=False))

    async def _send(self, current: Current) -> None:
        resource, status, expires_in = current
        if self.finished:
            return
        final = status in ApprovalRequest.FINAL_STATUSES
        # Decided before the first await: an event and a re-read may both be here, and only one
        # of them sends the final resource and closes.
        self.finished = final
        if status != self.last_status:
            self.last_status = status
            await self.send_json(resource)
        if final:
            if self.expiry_timer is not None and self.expiry_timer is not asyncio.current_task():
                self.expiry_timer.cancel()
            await self.close(code=CLOSE_NORMAL)
        elif self.expiry_timer is None and not self.finished:
            # Look again at expires_at (or shortly, when overdue but still pending: expiry raced, or
            # was left to the beat), and before it now and then, as the long poll does: a change whose
            # event never arrived (published before Redis had the subscription in effect, or while
            # Redis restarted) is then seen within RP_RECHECK_MAX seconds instead of never. The
            # re-reads start at LONG_POLL_RECHECK_INTERVAL and double, so a socket left open long
            # costs a read every RP_RECHECK_MAX seconds.
            recheck = min(app_settings.LONG_POLL_RECHECK_INTERVAL * 2**self.rechecks, RP_RECHECK_MAX)
            self.rechecks += 1
            delay = min(expires_in if expires_in > 0 else EXPIRY_RECHECK, recheck)
            self.expiry_timer = asyncio.create_task(self._expire_later(delay))

    async def _expire_later(self, delay: float) -> None:
        """Wake up, read the request (expiring it when it has run out: the engine broadcasts that
        change too) and send it if it changed. The timer stays set while it reads, so that a
        disconnect meanwhile cancels it; a failed read is tried again RP_RECHECK_MAX seconds later."""
        await asyncio.sleep(max(delay, 0) + 0.05)
        assert self.approval_id is not None
        try:
            current = await database_sync_to_async(_current)(self.approval_id, expire=True)
        except Exception:
            logger.warning("expiry check for approval %s failed", self.approval_id, exc_info=True)
            current = None
        self.expiry_timer = None
        if current is not None:
            await self._send(current)
        elif not self.finished:
            self.expiry_timer = asyncio.create_task(self._expire_later(RP_RECHECK_MAX))


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    """Unknown WebSocket paths: refuse the handshake."""

    async def connect(self) -> None:
        await self.close()

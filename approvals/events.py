"""Hooks the approval services call inside their transactions when a request is created or
reaches a final status. They own every side effect that leaves the database: channel-layer
broadcasts and push notifications (scheduled with transaction.on_commit) and the webhook outbox
row (written in the same transaction).

Channel-layer groups (shared by the consumers, the long poll and these hooks):
- `citizen_group(citizen_id)`: every connected device of the citizen; messages
  {"type": "approval.created", "approval": <device view>} and {"type": "approval.closed", "id", "status"}.
- `approval_group(approval_id)`: RP WebSockets and long polls of one request; message
  {"type": "approval.changed", "id": "<uuid>", "status": "<status>", "resource": <final approval resource>}.
- the citizen group also carries {"type": "device.revoked", "device_id": "<uuid>"}, which closes
  that device's sockets at once.

Nothing here may make a committed state change look failed: a broadcast or enqueue that fails
(Redis down) is logged and dropped. Devices can always poll, RPs can poll or long-poll, and the
webhook outbox row is committed with the change, so `deliver_due_webhooks` delivers it later.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import threading
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from approvals.models import ApprovalRequest

if TYPE_CHECKING:
    from devices.models import Device

logger = logging.getLogger(__name__)

BROADCAST_TIMEOUT = 1.0  # seconds a state change may wait for its broadcast (Redis hung); clients then poll


def citizen_group(citizen_id: int) -> str:
    return f"citizen.{citizen_id}"


def approval_group(approval_id: uuid.UUID | str) -> str:
    return f"approval.{uuid.UUID(str(approval_id)).hex}"


# --- representations (docs/contract §5/§6) ---


def _rfc3339(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def device_view(approval: ApprovalRequest) -> dict[str, Any]:
    """docs/contract §6 device view."""
    return {
        "id": str(approval.id),
        "type": approval.type,
        "rp_name": approval.relying_party.name,
        "binding_message": approval.binding_message,
        "payment": approval.payment,
        "nonce": approval.nonce,
        "verification_code_required": approval.number_matching,
        "created_at": _rfc3339(approval.created_at),
        "expires_at": _rfc3339(approval.expires_at),
    }


def approval_resource(approval: ApprovalRequest) -> dict[str, Any]:
    """docs/contract §5 approval resource."""
    return {
        "id": str(approval.id),
        "type": approval.type,
        "status": approval.status,
        "login_hint": approval.citizen.user_id,
        "binding_message": approval.binding_message,
        "payment": approval.payment,
        "verification_code": approval.verification_code or None,
        "created_at": _rfc3339(approval.created_at),
        "expires_at": _rfc3339(approval.expires_at),
        "decided_at": _rfc3339(approval.decided_at),
        "result": {"token": approval.result_token} if approval.result_token else None,
    }


# --- broadcasting ---------------------------------------------------------------------------


async def _group_send_all(messages: list[tuple[str, dict[str, Any]]]) -> None:
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


def broadcast(messages: list[tuple[str, dict[str, Any]]]) -> None:
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


def _enqueue(task: Any, *args: str) -> None:
    """Publish a Celery task without the broker's long connection retries: with the broker down,
    log and move on (push is best effort; webhooks are recovered from the outbox by the beat)."""
    try:
        task.apply_async(args=args, retry=False)
    except Exception as exc:
        logger.warning("could not enqueue %s: %s: %s", getattr(task, "name", task), type(exc).__name__, exc)


# --- hooks ----------------------------------------------------------------------------------


def approval_request_created(approval: ApprovalRequest, *, active_devices: list[tuple[Any, str, str]] | None = None) -> None:
    """Called inside the creating transaction: on commit, tell the citizen's connected devices and
    push to each active device that has a push channel. `active_devices` are the citizen's active
    devices as (id, push_provider, push_token) when the caller has read them in this transaction
    already; else they are read here."""
    from devices.models import Device
    from devices.tasks import send_push

    message = {"type": "approval.created", "approval": device_view(approval)}
    group = citizen_group(approval.citizen_id)
    transaction.on_commit(lambda: broadcast([(group, message)]), robust=True)

    if active_devices is None:
        active_devices = list(
            Device.objects.filter(citizen_id=approval.citizen_id, status=Device.Status.ACTIVE).values_list(
                "id", "push_provider", "push_token"
            )
        )
    device_ids = [
        str(device_id) for device_id, provider, token in active_devices if provider != Device.PushProvider.NONE and token
    ]
    approval_id = str(approval.id)
    for device_id in device_ids:
        transaction.on_commit(partial(_enqueue, send_push, device_id, approval_id), robust=True)


def approval_request_finalized(approval: ApprovalRequest) -> None:
    """Called inside the transaction that moved the request to a final status: write the webhook
    outbox row now (it commits or rolls back with the change), broadcast and deliver on commit."""
    from webhooks.services import webhook_event_create
    from webhooks.tasks import deliver_webhook

    resource = approval_resource(approval)
    event_type, data = _webhook_content(approval, resource)
    rp = approval.relying_party
    url = approval.callback_url or rp.callback_url
    event = None
    if url:
        event = webhook_event_create(relying_party=rp, event_type=event_type, url=url, data=data, object_id=str(approval.id))

    approval_id, status = str(approval.id), str(approval.status)
    # The final resource rides along, so that RP sockets and long polls answer without a read:
    # a request leaves pending once, so this is its last state.
    changed: dict[str, Any] = {"type": "approval.changed", "id": approval_id, "status": status, "resource": resource}
    messages = [
        (citizen_group(approval.citizen_id), {"type": "approval.closed", "id": approval_id, "status": status}),
        (approval_group(approval.id), changed),
    ]
    transaction.on_commit(lambda: broadcast(messages), robust=True)
    if event is not None:
        event_id = str(event.pk)
        transaction.on_commit(lambda: _enqueue(deliver_webhook, event_id), robust=True)


def final_resource(message: dict[str, Any]) -> dict[str, Any] | None:
    """The final approval resource an `approval.changed` message carries, or None."""
    resource = message.get("resource")
    if isinstance(resource, dict) and resource.get("status") in ApprovalRequest.FINAL_STATUSES:
        return resource
    return None


def device_revoked(device: Device) -> None:
    """Called inside the revoking transaction: on commit, close the device's open sockets."""
    message = {"type": "device.revoked", "device_id": str(device.id)}
    group = citizen_group(device.citizen_id)
    transaction.on_commit(lambda: broadcast([(group, message)]), robust=True)


def _webhook_content(approval: ApprovalRequest, resource: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`approval.<status>` with the approval resource, or `3ds.result` with the RReq for a request
    made by a 3-D Secure authentication."""
    from threeds.models import ThreeDSAuthentication

    # Only a payment of an RP allowed 3-D Secure can have come from an authentication: skip the
    # lookup for the rest (every login, and every payment of an ordinary RP).
    if approval.type != ApprovalRequest.Type.PAYMENT or not approval.relying_party.allows("3ds"):
        return f"approval.{approval.status}", resource
    authentication = ThreeDSAuthentication.objects.filter(approval=approval).first()
    if authentication is not None:
        from threeds.selectors import threeds_rreq

        return "3ds.result", threeds_rreq(authentication)
    return f"approval.{approval.status}", resource

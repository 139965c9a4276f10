"""Hooks the approval services call inside their transactions when a request is created or
reaches a final status. They own every side effect that leaves the database: channel-layer
broadcasts and push notifications (scheduled on commit through `nemid_app_backend.transport`) and
the webhook outbox row (written in the same transaction).

Channel-layer groups (shared by the consumers, the long poll and these hooks):
- `citizen_group(citizen_id)` (owned by devices): every connected device of the citizen; messages
  {"type": "approval.created", "approval": <device view>} and {"type": "approval.closed", "id", "status"}
  from here, and {"type": "device.revoked", "device_id": "<uuid>"} from `devices.events`.
- `approval_group(approval_id)`: RP WebSockets and long polls of one request; message
  {"type": "approval.changed", "id": "<uuid>", "status": "<status>", "resource": <final approval resource>}.

Nothing here may make a committed state change look failed: a broadcast or enqueue that fails
(Redis down) is logged and dropped. Devices can always poll, RPs can poll or long-poll, and the
webhook outbox row is committed with the change, so `deliver_due_webhooks` delivers it later.

Apps above this one add to what a final transition sends: `register_webhook_content` (3-D Secure
sends its RReq instead of the approval resource for the requests it made).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from approvals.models import ApprovalRequest
from approvals.push import send_push
from approvals.shapes import approval_resource, device_view
from devices.events import citizen_group
from devices.models import Device
from devices.selectors import device_push_channels_of_citizen
from nemid_app_backend import metrics
from nemid_app_backend.transport import broadcast_on_commit, enqueue_on_commit
from webhooks.services import webhook_event_create
from webhooks.tasks import deliver_webhook

__all__ = [
    "approval_group",
    "approval_request_created",
    "approval_request_finalized",
    "approval_resource",
    "citizen_group",
    "device_view",
    "final_resource",
    "register_finalized_hook",
    "register_webhook_content",
]

WebhookContent = Callable[[ApprovalRequest], "tuple[str, dict[str, Any]] | None"]
_webhook_content_providers: list[WebhookContent] = []


FinalizedHook = Callable[[ApprovalRequest], None]
_finalized_hooks: list[FinalizedHook] = []


def register_finalized_hook(hook: FinalizedHook) -> None:
    """Let a higher app react to a request reaching a final status (the OpenID provider's CIBA ping):
    `hook(approval)` is called inside the transaction of the change, after the webhook outbox row
    is written, so whatever it writes commits or rolls back with the change. Called from
    AppConfig.ready()."""
    if hook not in _finalized_hooks:
        _finalized_hooks.append(hook)


def register_webhook_content(provider: WebhookContent) -> None:
    """Let a higher app choose the webhook event of a final transition: `provider(approval)` returns
    (event type, data) for the requests it owns and None for the rest. Called from AppConfig.ready()."""
    if provider not in _webhook_content_providers:
        _webhook_content_providers.append(provider)


def approval_group(approval_id: uuid.UUID | str) -> str:
    return f"approval.{uuid.UUID(str(approval_id)).hex}"


# --- hooks ----------------------------------------------------------------------------------


def approval_request_created(approval: ApprovalRequest, *, active_devices: list[tuple[Any, str, str]] | None = None) -> None:
    """Called inside the creating transaction: on commit, tell the citizen's connected devices and
    push to each active device that has a push channel. `active_devices` are the citizen's active
    devices as (id, push_provider, push_token) when the caller has read them in this transaction
    already; else they are read here."""
    broadcast_on_commit([(citizen_group(approval.citizen_id), {"type": "approval.created", "approval": device_view(approval)})])
    metrics.approval_created(approval_type=str(approval.type), relying_party=approval.relying_party.client_id)

    if active_devices is None:
        active_devices = device_push_channels_of_citizen(citizen_id=approval.citizen_id)
    approval_id = str(approval.id)
    for device_id, provider, token in active_devices:
        if provider != Device.PushProvider.NONE and token:
            enqueue_on_commit(send_push, str(device_id), approval_id)


def approval_request_finalized(approval: ApprovalRequest) -> None:
    """Called inside the transaction that moved the request to a final status: write the webhook
    outbox row now (it commits or rolls back with the change), broadcast and deliver on commit."""
    resource = approval_resource(approval)
    event_type, data = _webhook_content(approval, resource)
    rp = approval.relying_party
    url = approval.callback_url or rp.callback_url
    event = None
    if url:
        event = webhook_event_create(relying_party=rp, event_type=event_type, url=url, data=data, object_id=str(approval.id))
    for hook in _finalized_hooks:
        hook(approval)

    approval_id, status = str(approval.id), str(approval.status)
    decision_seconds = None
    if approval.decided_at is not None and status in (ApprovalRequest.Status.APPROVED, ApprovalRequest.Status.DENIED):
        decision_seconds = (approval.decided_at - approval.created_at).total_seconds()
    metrics.approval_finished(
        approval_type=str(approval.type),
        status=status,
        decision_seconds=decision_seconds,
        fraud_reported=approval.fraud_reported,
    )
    # The final resource rides along, so that RP sockets and long polls answer without a read:
    # a request leaves pending once, so this is its last state.
    changed: dict[str, Any] = {"type": "approval.changed", "id": approval_id, "status": status, "resource": resource}
    broadcast_on_commit(
        [
            (citizen_group(approval.citizen_id), {"type": "approval.closed", "id": approval_id, "status": status}),
            (approval_group(approval.id), changed),
        ]
    )
    if event is not None:
        enqueue_on_commit(deliver_webhook, str(event.pk))


def final_resource(message: dict[str, Any]) -> dict[str, Any] | None:
    """The final approval resource an `approval.changed` message carries, or None."""
    resource = message.get("resource")
    if isinstance(resource, dict) and resource.get("status") in ApprovalRequest.FINAL_STATUSES:
        return resource
    return None


def _webhook_content(approval: ApprovalRequest, resource: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a registered provider chooses (3-D Secure: `3ds.result` with the RReq for a request
    made by an authentication), else `approval.<status>` with the approval resource."""
    for provider in _webhook_content_providers:
        content = provider(approval)
        if content is not None:
            return content
    return f"approval.{approval.status}", resource

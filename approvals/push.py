"""Pushing one approval request to one device, if it still makes sense: the check and the Celery task.

The task is also exported by `approvals.tasks` (where Celery looks for tasks); it is defined here so
that `approvals.events` can schedule it without importing the services that import the events."""

from __future__ import annotations

import uuid

from celery import shared_task

from approvals.models import ApprovalRequest
from audit.services import audit_append
from devices.models import Device
from devices.push import PushResult
from devices.push.services import device_can_be_pushed, device_push_send
from nemid_app_backend.db import one_or_none


class PushRetryableError(Exception):
    """The provider answered with a transient error; Celery retries with backoff and jitter."""


def approval_push_send(*, device_id: str, approval_id: str) -> PushResult | None:
    """Push `approval_id` to the device if it still makes sense: the device is active with a push
    channel and the request is still pending and unexpired. None when skipped."""
    try:
        device = one_or_none(Device.objects.filter(id=uuid.UUID(str(device_id))))
        approval = one_or_none(ApprovalRequest.objects.filter(id=uuid.UUID(str(approval_id))))
    except ValueError:
        return None
    if device is None or approval is None or approval.citizen_id != device.citizen_id:
        return None
    if not device_can_be_pushed(device):
        return None
    if approval.status != ApprovalRequest.Status.PENDING or approval.is_overdue():
        return None
    result = device_push_send(device=device, approval_id=str(approval.id))
    if result is PushResult.OK:
        audit_append(
            action="approval.pushed",
            object_type="approval",
            object_id=approval.id,
            data={"device_id": str(device.id), "provider": device.push_provider},
        )
    return result


@shared_task(
    # The name it had when it lived in devices: messages already queued under it still run.
    name="devices.tasks.send_push",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(PushRetryableError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def send_push(device_id: str, approval_id: str) -> str:
    """Push one approval to one device. Re-checks the world first (the request may be decided, the
    device revoked); a duplicate push is harmless because it carries only the approval id."""
    result = approval_push_send(device_id=device_id, approval_id=approval_id)
    if result is PushResult.RETRY:
        raise PushRetryableError(f"push of {approval_id} to {device_id} will be retried")
    return str(result or "skipped")

"""Pushing one approval request to one device, if it still makes sense."""

from __future__ import annotations

import uuid

from django.utils import timezone

from approvals.models import ApprovalRequest
from audit.services import audit_append
from devices.models import Device
from devices.push import PushResult
from devices.push.services import device_can_be_pushed, device_push_send


def approval_push_send(*, device_id: str, approval_id: str) -> PushResult | None:
    """Push `approval_id` to the device if it still makes sense: the device is active with a push
    channel and the request is still pending and unexpired. None when skipped."""
    try:
        device = Device.objects.filter(id=uuid.UUID(str(device_id))).first()
        approval = ApprovalRequest.objects.filter(id=uuid.UUID(str(approval_id))).first()
    except ValueError:
        return None
    if device is None or approval is None or approval.citizen_id != device.citizen_id:
        return None
    if not device_can_be_pushed(device):
        return None
    if approval.status != ApprovalRequest.Status.PENDING or approval.expires_at <= timezone.now():
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

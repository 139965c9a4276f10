"""Sending one approval's push to one device, and what follows from the answer."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from audit.services import audit_append
from devices.models import Device
from devices.push import PushResult, provider_for

logger = logging.getLogger(__name__)


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
    if not device.is_active or not device.push_token or device.push_provider == Device.PushProvider.NONE:
        return None
    if approval.status != ApprovalRequest.Status.PENDING or approval.expires_at <= timezone.now():
        return None
    result = provider_for(device.push_provider).send(device.push_token, str(approval.id))
    if result is PushResult.OK:
        audit_append(
            action="approval.pushed",
            object_type="approval",
            object_id=approval.id,
            data={"device_id": str(device.id), "provider": device.push_provider},
        )
    elif result is PushResult.UNREGISTERED:
        device_push_token_forget(device=device, token=device.push_token)
    return result


@transaction.atomic
def device_push_token_forget(*, device: Device, token: str) -> bool:
    """The provider says the token is dead: clear it, unless the app has sent a new one meanwhile."""
    cleared = Device.objects.filter(id=device.id, push_token=token).update(push_token="") == 1
    if cleared:
        audit_append(
            action="device.push_token_cleared", object_type="device", object_id=device.id, data={"provider": device.push_provider}
        )
    return cleared

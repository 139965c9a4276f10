"""Sending one wake-up to one device, and what follows from the provider's answer.

What is pushed and when is the business of the app that pushes (approvals: `approvals.push`)."""

from __future__ import annotations

import logging
import time

from django.db import transaction

from audit.services import audit_append
from devices.models import Device
from devices.push import PushResult, provider_for
from nemid_app_backend import metrics

logger = logging.getLogger(__name__)


def device_can_be_pushed(device: Device) -> bool:
    """The device is active and has a push channel."""
    return device.is_active and bool(device.push_token) and device.push_provider != Device.PushProvider.NONE


def device_push_send(*, device: Device, approval_id: str) -> PushResult:
    """Send the wake-up for `approval_id` through the device's provider; a dead token is forgotten."""
    provider = str(device.push_provider)
    started = time.perf_counter()
    try:
        result = provider_for(device.push_provider).send(device.push_token, approval_id)
    except Exception:
        metrics.child(metrics.PUSHES, provider, "error").inc()
        raise
    finally:
        metrics.child(metrics.PUSH_SECONDS, provider).observe(time.perf_counter() - started)
    metrics.child(metrics.PUSHES, provider, str(result.value)).inc()
    if result is PushResult.UNREGISTERED:
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

"""Reads of devices."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from citizens.models import Citizen
from devices.models import Device
from nemid_app_backend.db import FixedSelect

# Statements of a flow's hot path, written once (docs/decisions/0003 has the measurements).
_BY_ID = FixedSelect(Device, where=("id",))
_ACTIVE = FixedSelect(Device, where=("id", "status"), values=("id",))
_PUSH_CHANNELS = FixedSelect(Device, where=("citizen", "status"), values=("id", "push_provider", "push_token"))


def device_get(*, device_id: uuid.UUID) -> Device | None:
    """The device (without its citizen), or None: the device-token lookup of every device request."""
    return _BY_ID.one(device_id)


def device_push_channels_of_citizen(*, citizen_id: int) -> list[tuple[uuid.UUID, str, str]]:
    """The citizen's active devices as (id, push_provider, push_token): creation checks there is one
    and pushes to those with a channel."""
    return [(device_id, provider, token) for device_id, provider, token in _PUSH_CHANNELS.rows(citizen_id, Device.Status.ACTIVE)]


def devices_active_for_citizen(*, citizen: Citizen) -> QuerySet[Device]:
    return Device.objects.filter(citizen=citizen, status=Device.Status.ACTIVE)


def devices_of_citizen(*, citizen_id: int) -> QuerySet[Device]:
    """Every device of the citizen, active and revoked, newest first."""
    return Device.objects.filter(citizen_id=citizen_id).order_by("-created_at")


def device_of_citizen(*, citizen_id: int, device_id: object) -> Device | None:
    """The citizen's device with this id, or None (for an id that is not a UUID too)."""
    try:
        device_uuid = uuid.UUID(str(device_id))
    except ValueError:
        return None
    return Device.objects.select_related("citizen").filter(citizen_id=citizen_id, id=device_uuid).first()


def device_is_active(*, device_id: object) -> bool:
    """Whether the device exists and is not revoked (read on the hot path: a fixed statement)."""
    return bool(_ACTIVE.rows(device_id, Device.Status.ACTIVE))


def device_key_registered(*, thumbprint: str) -> bool:
    return Device.objects.filter(key_thumbprint=thumbprint).exists()


def device_actor_name(device_id: str) -> str | None:
    """How the audit log names a device actor: its name and its citizen's user ID."""
    row = Device.objects.filter(pk=device_id).values_list("name", "citizen__user_id").first() if _is_uuid(device_id) else None
    return f"Device “{row[0]}” of user {row[1]}" if row else None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

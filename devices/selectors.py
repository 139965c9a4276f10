"""Reads of devices."""

from __future__ import annotations

from django.db.models import QuerySet

from citizens.models import Citizen
from devices.models import Device
from nemid_app_backend.db import FixedSelect

_ACTIVE = FixedSelect(Device, where=("id", "status"), values=("id",))


def devices_active_for_citizen(*, citizen: Citizen) -> QuerySet[Device]:
    return Device.objects.filter(citizen=citizen, status=Device.Status.ACTIVE)


def device_is_active(*, device_id: object) -> bool:
    """Whether the device exists and is not revoked (read on the hot path: a fixed statement)."""
    return bool(_ACTIVE.rows(device_id, Device.Status.ACTIVE))


def device_key_registered(*, thumbprint: str) -> bool:
    return Device.objects.filter(key_thumbprint=thumbprint).exists()

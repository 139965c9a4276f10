"""Reads of devices."""

from __future__ import annotations

from django.db.models import QuerySet

from citizens.models import Citizen
from devices.models import Device


def devices_active_for_citizen(*, citizen: Citizen) -> QuerySet[Device]:
    return Device.objects.filter(citizen=citizen, status=Device.Status.ACTIVE)


def device_key_registered(*, thumbprint: str) -> bool:
    return Device.objects.filter(key_thumbprint=thumbprint).exists()

"""The real-time side of devices: the channel-layer group of a citizen's connected devices and
the `device.revoked` event on it, which closes the revoked device's sockets at once.

Higher apps send their own events to the same group (approvals: `approval.created`,
`approval.closed`); the consumers that join it live with them.
"""

from __future__ import annotations

from devices.models import Device
from nemid_app_backend.transport import broadcast_on_commit


def citizen_group(citizen_id: int) -> str:
    """The group every connected device of the citizen joins."""
    return f"citizen.{citizen_id}"


def device_revoked(device: Device) -> None:
    """Called inside the revoking transaction: on commit, close the device's open sockets."""
    broadcast_on_commit([(citizen_group(device.citizen_id), {"type": "device.revoked", "device_id": str(device.id)})])

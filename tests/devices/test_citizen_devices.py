"""docs/contract §9: a lost phone — GET /api/v1/device/devices and DELETE /api/v1/device/devices/{id}."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from audit.models import AuditEntry
from devices.models import Device
from nemid_app_backend.asgi import application
from tests.factories import CitizenFactory, DeviceFactory

LIST = "/api/v1/device/devices"


def detail(device_id: object) -> str:
    return f"{LIST}/{device_id}"


@pytest.mark.django_db
def test_list_shows_the_citizens_devices_only(api, citizen):
    phone = DeviceFactory(citizen=citizen, name="Old phone")
    tablet = DeviceFactory(citizen=citizen, name="Tablet", status=Device.Status.REVOKED)
    DeviceFactory(name="Someone else's")
    response = api.get(LIST, **phone.phone.auth("GET", LIST))
    assert response.status_code == 200, response.content
    devices = response.json()["devices"]
    assert {item["device_id"] for item in devices} == {str(phone.id), str(tablet.id)}
    mine = next(item for item in devices if item["device_id"] == str(phone.id))
    assert mine["current"] is True and mine["status"] == "active" and mine["name"] == "Old phone"
    assert set(mine) == {"device_id", "name", "platform", "status", "created_at", "last_used_at", "revoked_at", "current"}
    other = next(item for item in devices if item["device_id"] == str(tablet.id))
    assert other["current"] is False and other["status"] == "revoked"


@pytest.mark.django_db
def test_revoke_another_device_of_the_citizen(api, citizen):
    new_phone = DeviceFactory(citizen=citizen)
    lost_phone = DeviceFactory(citizen=citizen)
    response = api.delete(detail(lost_phone.id), **new_phone.phone.auth("DELETE", detail(lost_phone.id)))
    assert response.status_code == 204, response.content
    lost_phone.refresh_from_db()
    assert lost_phone.status == "revoked" and lost_phone.revoked_at is not None
    entry = AuditEntry.objects.get(action="device.revoked", object_id=str(lost_phone.id))
    assert entry.actor == f"device:{new_phone.id}"
    # the lost phone's tokens fail from now on
    response = api.get("/api/v1/device", **lost_phone.phone.auth("GET", "/api/v1/device"))
    assert response.status_code == 401 and response.json()["code"] == "invalid_device_token"
    # revoking again changes nothing
    again = api.delete(detail(lost_phone.id), **new_phone.phone.auth("DELETE", detail(lost_phone.id)))
    assert again.status_code == 204
    assert AuditEntry.objects.filter(action="device.revoked", object_id=str(lost_phone.id)).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["another citizen's", "unknown", "not a uuid"])
def test_other_citizens_and_unknown_devices_are_404(api, citizen, target):
    mine = DeviceFactory(citizen=citizen)
    theirs = DeviceFactory(citizen=CitizenFactory())
    device_id = {"another citizen's": theirs.id, "unknown": uuid.uuid4(), "not a uuid": "nope"}[target]
    response = api.delete(detail(device_id), **mine.phone.auth("DELETE", detail(device_id)))
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.status == "active"


@pytest.mark.django_db
def test_needs_a_device_token(api, device):
    assert api.get(LIST).status_code == 401
    response = api.delete(detail(device.id))
    assert response.status_code == 401 and response.json()["code"] == "invalid_device_token"


@pytest.mark.django_db(transaction=True)
async def test_revoking_closes_the_revoked_devices_sockets():
    citizen = await database_sync_to_async(CitizenFactory)()
    kept = await database_sync_to_async(DeviceFactory)(citizen=citizen)
    lost = await database_sync_to_async(DeviceFactory)(citizen=citizen)
    token = lost.phone.token("GET", "/ws/v1/device")
    socket = WebsocketCommunicator(application, "/ws/v1/device", headers=[(b"authorization", f"Device {token}".encode())])
    assert (await socket.connect(timeout=10))[0]

    def revoke() -> int:
        return APIClient().delete(detail(lost.id), **kept.phone.auth("DELETE", detail(lost.id))).status_code

    assert await database_sync_to_async(revoke)() == 204
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 1008}

"""docs/contract §1 and §4: the device token, and GET/PATCH/DELETE /api/v1/device."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from audit.models import AuditEntry
from devices import crypto
from devices.models import Device
from tests.factories import DeviceFactory
from tests.phone import Phone

pytestmark = pytest.mark.django_db

URL = "/api/v1/device"


def test_get_device(api, device, citizen):
    response = api.get(URL, **device.phone.auth("GET", URL))
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == {"device_id", "user_id", "name", "platform", "status", "created_at", "last_used_at"}
    assert data["device_id"] == str(device.id)
    assert data["user_id"] == citizen.user_id
    assert data["name"] == "Pixel 8" and data["platform"] == "android" and data["status"] == "active"
    assert data["created_at"].endswith("Z") and data["last_used_at"].endswith("Z")


def test_ed25519_device_token(api):
    device = DeviceFactory(phone=Phone(private_key=crypto.generate_private_key("EdDSA")))
    assert device.alg == "EdDSA"
    assert api.get(URL, **device.phone.auth("GET", URL)).status_code == 200


def _rejected(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 401 and response.json()["code"] == "invalid_device_token"


def test_replayed_token_is_rejected(api, device):
    headers = device.phone.auth("GET", URL, jti="j" * 20)
    assert api.get(URL, **headers).status_code == 200
    assert _rejected(api.get(URL, **headers))
    # a new token with the same jti is a replay too
    assert _rejected(api.get(URL, **device.phone.auth("GET", URL, jti="j" * 20)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"path": "/api/v1/devices"},  # wrong htu
        {"path": "/api/v1/device?x=1"},  # htu carries no query
        {"method": "POST"},  # wrong htm
        {"iat_from_now": -200, "lifetime": 100},  # expired
        {"lifetime": 301},  # exp - iat > 300
        {"iat_from_now": 120},  # iat too far in the future
        {"jti": "short"},
        {"jti": "x" * 65},
        {"exp": "soon"},
        {"jti": 1234567890123456789},
    ],
)
def test_bad_tokens_are_rejected(api, device, kwargs):
    kwargs = dict(kwargs)
    if "iat_from_now" in kwargs:  # read the clock now, not when the tests were collected
        kwargs["iat"] = int(time.time()) + kwargs.pop("iat_from_now")
    method = kwargs.pop("method", "GET")
    path = kwargs.pop("path", URL)
    if "iat_from_now" in kwargs:  # taken when the test runs, not when it is collected
        kwargs["iat"] = int(time.time()) + kwargs.pop("iat_from_now")
    assert _rejected(api.get(URL, **device.phone.auth(method, path, **kwargs)))


def test_token_of_a_slightly_future_iat_is_accepted(api, device):
    assert api.get(URL, **device.phone.auth("GET", URL, iat=int(time.time()) + 30)).status_code == 200


def test_wrong_signature_unknown_device_and_garbage(api, device):
    impostor = Phone(device_id=str(device.id))  # another key claiming the device
    assert _rejected(api.get(URL, **impostor.auth("GET", URL)))
    stranger = Phone(device_id="8f0a3b8e-0d1c-4f7e-9a51-000000000000")
    assert _rejected(api.get(URL, **stranger.auth("GET", URL)))
    not_uuid = Phone(private_key=device.phone.private_key, device_id="not-a-uuid")
    assert _rejected(api.get(URL, **not_uuid.auth("GET", URL)))
    for header in ["", "Device", "Device x.y.z", "Bearer abc", "Device " + "a" * 20000]:
        assert _rejected(api.get(URL, HTTP_AUTHORIZATION=header))
    assert _rejected(api.get(URL))


def test_der_signed_token_is_rejected(api, device):
    import json

    from cryptography.hazmat.primitives import hashes

    now = int(time.time())
    header = crypto.b64url_encode(json.dumps({"alg": "ES256", "typ": "device+jwt", "kid": str(device.id)}).encode())
    payload = crypto.b64url_encode(json.dumps({"iat": now, "exp": now + 60, "jti": "d" * 20, "htm": "GET", "htu": URL}).encode())
    signature = device.phone.private_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    assert _rejected(api.get(URL, HTTP_AUTHORIZATION=f"Device {header}.{payload}.{crypto.b64url_encode(signature)}"))


def test_patch_renames_and_sets_push(api, device):
    response = api.patch(
        URL,
        {"name": "  Work   phone ", "push": {"provider": "apns", "token": "abc123"}},
        format="json",
        **device.phone.auth("PATCH", URL),
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Work phone"
    device.refresh_from_db()
    assert device.push_provider == "apns" and device.push_token == "abc123"
    entry = AuditEntry.objects.get(action="device.updated")
    assert "abc123" not in str(entry.data)
    response = api.patch(URL, {"push": {"provider": "none"}}, format="json", **device.phone.auth("PATCH", URL))
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.push_provider == "none" and device.push_token == ""


def test_patch_with_empty_body_changes_nothing(api, device):
    response = api.patch(URL, {}, format="json", **device.phone.auth("PATCH", URL))
    assert response.status_code == 200 and response.json()["name"] == "Pixel 8"
    assert not AuditEntry.objects.filter(action="device.updated").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"push": None}, "push"),
        ({"push": {"provider": "none", "token": "t"}}, "push.token"),
        (
            {
                "push": {
                    "provider": "webpush",
                    "token": '{"endpoint": "https://push.example/x", "keys": {"p256dh": "AA", "auth": "AA"}}',
                }
            },
            "push.token",
        ),
        ({"push": {"provider": "fcm", "token": "x" * 5000}}, "push.token"),
    ],
)
def test_patch_validation(api, device, payload, field):
    response = api.patch(URL, payload, format="json", **device.phone.auth("PATCH", URL))
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and field in response.json()["errors"]


def test_delete_revokes_for_good(api, device):
    response = api.delete(URL, **device.phone.auth("DELETE", URL))
    assert response.status_code == 204
    device.refresh_from_db()
    assert device.status == Device.Status.REVOKED and device.revoked_at is not None
    assert device.revoked_at <= timezone.now()
    assert AuditEntry.objects.filter(action="device.revoked", object_id=str(device.id)).exists()
    assert _rejected(api.get(URL, **device.phone.auth("GET", URL)))
    assert _rejected(api.delete(URL, **device.phone.auth("DELETE", URL)))


def test_revoked_device_never_authenticates(api):
    device = DeviceFactory(status=Device.Status.REVOKED)
    assert _rejected(api.get(URL, **device.phone.auth("GET", URL)))


def test_401_names_the_device_scheme(api):
    response = api.get(URL)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Device"
    assert response["Content-Type"] == "application/problem+json"


def test_a_token_with_a_too_deeply_nested_header_is_rejected(api, device):
    deep = crypto.b64url_encode(b"[" * 5000)
    assert _rejected(api.get(URL, HTTP_AUTHORIZATION=f"Device {deep}.e30.c2ln"))

"""docs/contract §9: PUT /api/v1/device/password — set and change the password from an enrolled device."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from citizens.models import Citizen
from citizens.services import citizen_password_verify

pytestmark = pytest.mark.django_db

URL = "/api/v1/device/password"


def put(api, device, body):  # type: ignore[no-untyped-def]
    return api.put(URL, body, format="json", **device.phone.auth("PUT", URL))


def test_set_then_change(api, device, citizen):
    response = put(api, device, {"password": "blue horse eats late"})
    assert response.status_code == 204, response.content
    citizen_password_verify(citizen=citizen, password="blue horse eats late")
    entry = AuditEntry.objects.get(action="citizen.password_set", object_id=citizen.user_id)
    assert entry.actor == f"device:{device.id}"
    response = put(api, device, {"password": "green owl sings loud", "current_password": "blue horse eats late"})
    assert response.status_code == 204, response.content
    citizen_password_verify(citizen=citizen, password="green owl sings loud")


def test_current_password_required_once_set(api, device):
    assert put(api, device, {"password": "blue horse eats late"}).status_code == 204
    response = put(api, device, {"password": "green owl sings loud"})
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert "current_password" in response.json()["errors"]


def test_wrong_current_password_is_401_and_a_failed_attempt(api, device, citizen):
    assert put(api, device, {"password": "blue horse eats late"}).status_code == 204
    response = put(api, device, {"password": "green owl sings loud", "current_password": "not it at all"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert response["Content-Type"] == "application/problem+json"
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 1
    citizen_password_verify(citizen=citizen, password="blue horse eats late")  # unchanged


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "too_short"),
        ("password1", "common"),
        ("nemid2024", "context"),
        ("x" * 300, "too_long"),
        ("x" * 5000, "too_long"),
    ],
)
def test_weak_password_gets_a_reason_the_person_can_act_on(api, device, citizen, password, reason):
    response = put(api, device, {"password": password})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "weak_password" and body["reason"] == reason and body["detail"]
    citizen.refresh_from_db()
    assert citizen.password_hash == ""


def test_user_id_in_the_password_is_refused(api, device, citizen):
    response = put(api, device, {"password": f"mit id er {citizen.user_id}"})
    assert response.status_code == 400 and response.json()["reason"] == "context"


@pytest.mark.parametrize("body", [{}, {"password": 12345678}, {"password": None}, {"password": "tab\there ok ok"}, []])
def test_malformed_bodies_are_validation_errors(api, device, body):
    response = put(api, device, body)
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_throttled_change_is_429_with_retry_after(api, device, citizen):
    assert put(api, device, {"password": "blue horse eats late"}).status_code == 204
    Citizen.objects.filter(pk=citizen.pk).update(password_blocked_until=timezone.now() + datetime.timedelta(seconds=90))
    response = put(api, device, {"password": "green owl sings loud", "current_password": "blue horse eats late"})
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"
    assert 85 <= int(response["Retry-After"]) <= 90


def test_needs_a_device_token(api):
    response = api.put(URL, {"password": "blue horse eats late"}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "invalid_device_token"

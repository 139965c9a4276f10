"""Failed-registration limits (docs/contract §4, §7): keyed on the real client behind trusted
proxies, per citizen beside per code, and a service-wide circuit breaker with an operator alert.

Client addresses here are loopback addresses used as request metadata only: nothing connects to them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from citizens.services import activation_code_issue
from devices.models import Device
from nemid_app_backend.client_address import client_address
from tests.conftest import staff_login
from tests.factories import CitizenFactory
from tests.phone import Phone

URL = "/api/v1/devices"
PROXY = "127.0.0.9"


def body(phone: Phone, code: str, **overrides: Any) -> dict[str, Any]:
    return {
        "activation_code": code,
        "public_key": phone.public_jwk,
        "name": "Pixel 8",
        "platform": "android",
        "proof": phone.registration_proof(code),
        **overrides,
    }


def register(code: str, *, peer: str = "127.0.0.1", forwarded_for: str | None = None, proof_by: Phone | None = None) -> Any:
    phone = Phone()
    extra: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    overrides = {"proof": proof_by.registration_proof(code)} if proof_by is not None else {}
    return APIClient(**extra).post(URL, body(phone, code, **overrides), format="json")


def guess(index: int) -> str:
    return f"AAAA-BBBB-{index // 10000:04d}-{index % 10000:04d}"


# --- the client address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "meta", "expected"),
    [
        ([], {"REMOTE_ADDR": "127.0.0.5", "HTTP_X_FORWARDED_FOR": "127.0.2.1"}, "127.0.0.5"),  # none trusted by default
        ([PROXY], {"REMOTE_ADDR": "127.0.0.5", "HTTP_X_FORWARDED_FOR": "127.0.2.1"}, "127.0.0.5"),  # untrusted peer
        ([PROXY], {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "127.0.2.1"}, "127.0.2.1"),
        ([PROXY], {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "127.0.3.3, 127.0.2.1"}, "127.0.2.1"),  # spoofed left part
        (["127.0.0.8/31"], {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "127.0.2.1, 127.0.0.8"}, "127.0.2.1"),  # two proxies
        ([PROXY], {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "not-an-ip"}, PROXY),
        ([PROXY], {"REMOTE_ADDR": PROXY}, PROXY),
        (["::1"], {"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "[::1]:4711, 127.0.2.1:5000"}, "127.0.2.1"),
        ([PROXY], {"REMOTE_ADDR": "::ffff:127.0.0.9", "HTTP_X_FORWARDED_FOR": "127.0.2.1"}, "127.0.2.1"),
    ],
)
def test_client_address_believes_forwarded_for_only_from_trusted_proxies(settings, trusted, meta, expected):
    settings.NEMID_TRUSTED_PROXIES = trusted
    assert client_address(meta) == expected


# --- per client address ------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(
    NEMID_TRUSTED_PROXIES=[PROXY], NEMID_REGISTRATION_FAILURES_PER_ADDRESS=3, NEMID_REGISTRATION_FAILURES_PER_CODE=100
)
def test_one_client_behind_the_proxy_cannot_block_the_others(citizen):
    for index in range(3):
        assert register(guess(index), peer=PROXY, forwarded_for="127.0.2.1").json()["code"] == "invalid_activation_code"
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    blocked = register(code, peer=PROXY, forwarded_for="127.0.2.1")
    assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_attempts"
    assert register(code, peer=PROXY, forwarded_for="127.0.2.2").status_code == 201


@pytest.mark.django_db
@override_settings(
    NEMID_TRUSTED_PROXIES=[PROXY], NEMID_REGISTRATION_FAILURES_PER_ADDRESS=3, NEMID_REGISTRATION_FAILURES_PER_CODE=100
)
def test_a_new_forwarded_for_per_try_from_an_untrusted_peer_does_not_bypass_the_limit(citizen):
    for index in range(3):
        response = register(guess(index), peer="127.0.0.5", forwarded_for=f"127.0.4.{index}")
        assert response.json()["code"] == "invalid_activation_code"
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    response = register(code, peer="127.0.0.5", forwarded_for="127.0.4.99")
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"


@pytest.mark.django_db
@override_settings(
    NEMID_TRUSTED_PROXIES=[PROXY], NEMID_REGISTRATION_FAILURES_PER_ADDRESS=3, NEMID_REGISTRATION_FAILURES_PER_CODE=100
)
def test_a_spoofed_forwarded_for_through_the_proxy_does_not_bypass_the_limit(citizen):
    # The client writes its own X-Forwarded-For; the proxy appends the address it saw.
    for index in range(3):
        response = register(guess(index), peer=PROXY, forwarded_for=f"127.0.4.{index}, 127.0.2.7")
        assert response.json()["code"] == "invalid_activation_code"
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    response = register(code, peer=PROXY, forwarded_for="127.0.4.99, 127.0.2.7")
    assert response.status_code == 429


# --- per citizen -----------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(
    NEMID_REGISTRATION_FAILURES_PER_ADDRESS=100,
    NEMID_REGISTRATION_FAILURES_PER_CODE=100,
    NEMID_REGISTRATION_FAILURES_PER_CITIZEN=3,
)
def test_failed_registrations_are_limited_per_citizen_across_codes_and_addresses(citizen):
    for index in range(3):
        code, _ = activation_code_issue(citizen=citizen, actor="test")  # each supersedes the one before
        response = register(code, peer=f"127.0.5.{index}", proof_by=Phone())  # a proof by another key
        assert response.json()["code"] == "invalid_proof"
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    response = register(code, peer="127.0.5.200")
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"
    assert not Device.objects.filter(citizen=citizen).exists()
    other, _ = activation_code_issue(citizen=CitizenFactory(), actor="test")
    assert register(other, peer="127.0.5.200").status_code == 201  # another citizen is not affected


# --- the circuit breaker --------------------------------------------------------------------------


BREAKER = {
    "NEMID_REGISTRATION_FAILURES_PER_ADDRESS": 1000,
    "NEMID_REGISTRATION_FAILURES_PER_CODE": 1000,
    "NEMID_REGISTRATION_BREAKER_FAILURES": 5,
    "NEMID_REGISTRATION_BREAKER_WINDOW": 600,
    "NEMID_REGISTRATION_BREAKER_COOLDOWN": 900,
}


def _trip() -> None:
    for index in range(5):
        assert register(guess(index), peer=f"127.0.6.{index}").json()["code"] == "invalid_activation_code"


@pytest.mark.django_db
@override_settings(**BREAKER)
def test_the_breaker_suspends_every_registration_and_alerts_operators(citizen, admin_client, caplog):
    with caplog.at_level(logging.ERROR, logger="devices.registration_limits"):
        _trip()
    assert [record.levelno for record in caplog.records if "circuit breaker" in record.getMessage()] == [logging.ERROR]
    suspended = AuditEntry.objects.filter(action="registration.suspended")
    assert suspended.count() == 1 and suspended.get().data["failures"] == 5

    code, _ = activation_code_issue(citizen=citizen, actor="test")
    response = register(code, peer="127.0.6.200")  # a right code from a fresh address
    assert response.status_code == 503
    assert response.json()["code"] == "registration_suspended"
    assert 0 < int(response["Retry-After"]) <= 900
    assert not Device.objects.exists()
    register(guess(99), peer="127.0.6.201")
    assert AuditEntry.objects.filter(action="registration.suspended").count() == 1  # one alert per opening

    page = admin_client.get(reverse("admin:index"))
    assert b"Device registrations are suspended" in page.content
    assert reverse("admin:devices_device_registrations").encode() in page.content


@pytest.mark.django_db
@override_settings(**BREAKER)
def test_an_operator_can_resume_registrations(citizen, admin_client):
    _trip()
    page = admin_client.get(reverse("admin:devices_device_registrations"))
    assert page.status_code == 200 and b"Resume registrations now" in page.content
    assert admin_client.post(reverse("admin:devices_device_registrations")).status_code == 302
    resumed = AuditEntry.objects.get(action="registration.resumed")
    assert resumed.actor == "admin:admin"
    assert b"Device registrations are suspended" not in admin_client.get(reverse("admin:index")).content
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    assert register(code, peer="127.0.6.200").status_code == 201


@pytest.mark.django_db
@override_settings(**BREAKER)
def test_resuming_needs_the_change_permission_on_devices(django_user_model, client):
    from django.contrib.auth.models import Permission

    _trip()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_device"))
    staff_login(client, viewer)
    page = client.get(reverse("admin:devices_device_registrations"))
    assert page.status_code == 200 and b"Resume registrations now" not in page.content
    assert client.post(reverse("admin:devices_device_registrations")).status_code == 403
    assert not AuditEntry.objects.filter(action="registration.resumed").exists()


@pytest.mark.django_db
@override_settings(**BREAKER)
def test_the_breaker_closes_by_itself_after_the_cooldown(citizen, monkeypatch):
    _trip()
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    assert register(code, peer="127.0.6.200").status_code == 503
    later = time.time() + 901

    class Later:
        @staticmethod
        def time() -> float:
            return later

    monkeypatch.setattr("devices.registration_limits.time", Later)
    assert register(code, peer="127.0.6.200").status_code == 201

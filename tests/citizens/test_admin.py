"""The operator admin: pages load, services run behind the forms and actions, secrets are shown once."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_append
from citizens import locks
from citizens.models import ActivationCode, ActivationCodeRequest, Citizen
from citizens.services import activation_code_issue, activation_code_request_create
from devices.models import Device
from relying_parties.authentication import relying_party_for_key
from relying_parties.models import RelyingParty
from signing.services import jwks
from tests.audit.test_verify_audit_log import tampering
from tests.conftest import staff_login
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory

pytestmark = pytest.mark.django_db

CODE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


@pytest.fixture
def operator(client, django_user_model):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw")
    return staff_login(client, user)


def test_admin_requires_staff(client):
    response = client.get(reverse("admin:citizens_citizen_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_every_page_loads(operator, rp, django_user_model):
    device = DeviceFactory()
    code_row = activation_code_issue(citizen=device.citizen, actor="t")[1]
    code_request = activation_code_request_create(
        citizen=device.citizen, reason="r", operator=django_user_model.objects.get(username="operator"), actor="admin:operator"
    )
    jwks()  # makes a signing key
    entry = AuditEntry.objects.first()
    signing_key = __import__("signing.models", fromlist=["SigningKey"]).SigningKey.objects.first()
    pages = [
        ("citizens_citizen", device.citizen.pk),
        ("citizens_activationcode", code_row.pk),
        ("citizens_activationcoderequest", code_request.pk),
        ("devices_device", device.pk),
        ("relying_parties_relyingparty", rp.pk),
        ("audit_auditentry", entry.pk),
        ("signing_signingkey", signing_key.pk),
    ]
    for name, pk in pages:
        assert operator.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        page = operator.get(reverse(f"admin:{name}_change", args=[pk]))
        assert page.status_code == 200, name
        html = page.content.decode()
        assert code_row.code_hash not in html and device.citizen.cpr_hash not in html
        assert rp.api_key_hash not in html and rp.webhook_secret_encrypted not in html
        assert signing_key.private_key_encrypted not in html
    assert operator.get(reverse("admin:citizens_citizen_add")).status_code == 200
    request_form = operator.get(reverse("admin:citizens_citizen_request_activation_code") + f"?ids={device.citizen.pk}")
    assert request_form.status_code == 200
    assert operator.get(reverse("admin:relying_parties_relyingparty_add")).status_code == 200
    assert operator.get(reverse("admin:index")).status_code == 200


def test_enroll_in_the_admin_requests_the_first_code(operator):
    """The citizen is enrolled at once; the first code waits for a second operator (test_four_eyes.py)."""
    response = operator.post(
        reverse("admin:citizens_citizen_add"), {"cpr": "010190-1234", "name": "Jens Hansen", "reason": "At the desk"}
    )
    citizen = Citizen.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:citizens_citizen_change", args=[citizen.pk])
    html = operator.get(response["Location"]).content.decode()
    assert citizen.user_id in html and "0101901234" not in html and "010190-1234" not in html
    assert not CODE_RE.search(html) and not ActivationCode.objects.exists()
    assert ActivationCodeRequest.objects.get().citizen == citizen
    assert AuditEntry.objects.get(action="citizen.enrolled").actor == "admin:operator"


@pytest.mark.parametrize(("cpr", "message"), [("310290-1234", "invalid_cpr"), ("010125-4000", "underage"), ("", "required")])
def test_enroll_errors_are_shown_on_the_form(operator, cpr, message):
    response = operator.post(reverse("admin:citizens_citizen_add"), {"cpr": cpr, "name": "X", "reason": "r"})
    assert response.status_code == 200 and message in response.content.decode()
    assert not Citizen.objects.exists()


def test_enroll_twice_is_already_enrolled(operator):
    operator.post(reverse("admin:citizens_citizen_add"), {"cpr": "010190-1234", "name": "Jens Hansen", "reason": "r"})
    response = operator.post(reverse("admin:citizens_citizen_add"), {"cpr": "0101901234", "name": "Jens Hansen", "reason": "r"})
    assert "already_enrolled" in response.content.decode() and Citizen.objects.count() == 1


def test_search_by_full_cpr_number(operator):
    operator.post(reverse("admin:citizens_citizen_add"), {"cpr": "010190-1234", "name": "Jens Hansen", "reason": "r"})
    CitizenFactory(name="Someone Else")
    html = operator.get(reverse("admin:citizens_citizen_changelist"), {"q": "0101901234"}).content.decode()
    assert "Jens Hansen" in html and "Someone Else" not in html


def test_request_activation_code_button_and_action_make_no_code(operator, citizen):
    """The one-operator issue is gone: both only request a code (test_four_eyes.py has the approval)."""
    page = operator.get(reverse("admin:citizens_citizen_change", args=[citizen.pk])).content.decode()
    url = reverse("admin:citizens_citizen_request_activation_code") + f"?ids={citizen.pk}"
    assert url in page.replace("&amp;", "&")
    response = operator.post(url, {"reason": "New phone"})
    assert response.status_code == 302 and not ActivationCode.objects.exists()
    assert ActivationCodeRequest.objects.get().citizen == citizen
    missing = operator.get(reverse("admin:citizens_citizen_request_activation_code") + "?ids=999999")
    assert missing.status_code == 302 and missing["Location"] == reverse("admin:citizens_citizen_changelist")
    # Digits that are not ASCII ("²".isdigit() is true) and ids past a bigint are no id, not a 500.
    for ids in ("\u00b2", f"\u00b2,{'9' * 30}", "-1,,x"):
        odd = operator.get(reverse("admin:citizens_citizen_request_activation_code"), {"ids": ids})
        assert odd.status_code == 302 and odd["Location"] == reverse("admin:citizens_citizen_changelist")


def test_lock_state_is_shown(operator, citizen):
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() + datetime.timedelta(hours=1), failed_attempts=5)
    html = operator.get(reverse("admin:citizens_citizen_change", args=[citizen.pk])).content.decode()
    assert "locked until" in html


def test_unlock_calls_the_lock_service(operator, citizen, monkeypatch):
    calls = []

    def unlock(*, citizen, actor):  # type: ignore[no-untyped-def]
        calls.append((citizen.pk, actor))
        return citizen

    monkeypatch.setattr(locks, "citizen_unlock", unlock)
    operator.post(reverse("admin:citizens_citizen_changelist"), {"action": "unlock_citizens", "_selected_action": [citizen.pk]})
    response = operator.post(reverse("admin:citizens_citizen_unlock", args=[citizen.pk]))
    assert response.status_code == 302
    assert calls == [(citizen.pk, "admin:operator"), (citizen.pk, "admin:operator")]


def test_citizens_cannot_be_deleted_or_edited(operator, citizen):
    assert operator.get(reverse("admin:citizens_citizen_delete", args=[citizen.pk])).status_code == 403
    response = operator.post(reverse("admin:citizens_citizen_change", args=[citizen.pk]), {"name": "Changed"})
    assert response.status_code in (200, 403)
    citizen.refresh_from_db()
    assert citizen.name != "Changed"


def test_revoke_device_action(operator):
    device = DeviceFactory()
    other = DeviceFactory()
    response = operator.post(
        reverse("admin:devices_device_changelist"), {"action": "revoke_devices", "_selected_action": [device.pk]}
    )
    assert response.status_code == 302
    device.refresh_from_db()
    other.refresh_from_db()
    assert device.status == Device.Status.REVOKED and other.status == Device.Status.ACTIVE
    assert AuditEntry.objects.get(action="device.revoked").actor == "admin:operator"
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/device", **device.phone.auth("GET", "/api/v1/device"))
    assert response.status_code == 401


def test_create_relying_party_in_the_admin(operator):
    response = operator.post(
        reverse("admin:relying_parties_relyingparty_add"),
        {"name": "Webshop ApS", "callback_url": "https://shop.example/hooks", "allowed_types": ["login", "3ds"]},
    )
    assert response.status_code == 200
    html = response.content.decode()
    api_key = re.search(r"nrp_[A-Za-z0-9_\-]+", html).group(0)
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", html).group(0)
    rp = relying_party_for_key(api_key)
    assert rp.allowed_types == ["login", "3ds"] and rp.callback_url == "https://shop.example/hooks"
    from relying_parties.services import relying_party_webhook_secret

    assert relying_party_webhook_secret(rp) == secret
    assert api_key not in operator.get(reverse("admin:relying_parties_relyingparty_change", args=[rp.pk])).content.decode()


def test_relying_party_form_refuses_plain_http(operator):
    response = operator.post(
        reverse("admin:relying_parties_relyingparty_add"),
        {"name": "Shop", "callback_url": "http://shop.example/", "allowed_types": ["login"]},
    )
    assert response.status_code == 200 and "https" in response.content.decode()
    assert not RelyingParty.objects.exists()


def test_edit_relying_party_goes_through_the_service(operator, rp):
    url = reverse("admin:relying_parties_relyingparty_change", args=[rp.pk])
    response = operator.post(url, {"name": "Renamed", "callback_url": "", "allowed_types": ["payment"], "is_active": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    rp.refresh_from_db()
    assert rp.name == "Renamed" and rp.allowed_types == ["payment"] and not rp.is_active
    assert AuditEntry.objects.get(action="relying_party.updated").actor == "admin:operator"
    bad = operator.post(url, {"name": "Renamed", "callback_url": "http://evil.example/", "allowed_types": ["payment"]})
    assert bad.status_code == 200
    rp.refresh_from_db()
    assert rp.callback_url == ""


def test_rotate_api_key_action(operator):
    rp = RelyingPartyFactory()
    response = operator.post(
        reverse("admin:relying_parties_relyingparty_changelist"), {"action": "rotate_api_keys", "_selected_action": [rp.pk]}
    )
    assert response.status_code == 200
    new_key = re.search(r"nrp_[A-Za-z0-9_\-]+", response.content.decode()).group(0)
    assert relying_party_for_key(new_key) == rp
    with pytest.raises(Exception):
        relying_party_for_key(rp.api_key)


def test_audit_log_is_read_only(operator):
    entry = audit_append(action="test.event", object_type="thing", object_id="1", data={"a": 1})
    assert operator.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).status_code == 200
    assert operator.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert operator.get(reverse("admin:audit_auditentry_delete", args=[entry.pk])).status_code == 403
    operator.post(reverse("admin:audit_auditentry_change", args=[entry.pk]), {"action": "forged"})
    entry.refresh_from_db()
    assert entry.action == "test.event"
    filtered = operator.get(reverse("admin:audit_auditentry_changelist"), {"action": "test.event", "object_type": "thing"})
    assert filtered.status_code == 200 and "test.event" in filtered.content.decode()


def test_unlock_button_clears_the_lock(operator, citizen):
    later = timezone.now() + datetime.timedelta(hours=1)
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=later, login_blocked_until=later, failed_attempts=3)
    response = operator.post(reverse("admin:citizens_citizen_unlock", args=[citizen.pk]), follow=True)
    assert response.status_code == 200 and "unlocked" in response.content.decode()
    citizen.refresh_from_db()
    assert not (citizen.locked_until and citizen.locked_until > timezone.now())
    assert not (citizen.login_blocked_until and citizen.login_blocked_until > timezone.now())
    assert citizen.failed_attempts == 0


def test_verify_audit_chain_in_the_admin(operator):
    for n in range(3):
        audit_append(action="test.event", object_type="thing", object_id=str(n))
    url = reverse("admin:audit_auditentry_verify")
    assert operator.get(url).status_code == 405
    entries = AuditEntry.objects.count()  # the three, and the operator's log-in
    assert f"Hash chain intact: {entries} entries" in operator.post(url, follow=True).content.decode()
    with tampering():  # on PostgreSQL the append-only trigger refuses the forgery otherwise
        AuditEntry.objects.filter(seal__seq=2).update(actor="forger")
    assert "BROKEN at entry 2" in operator.post(url, follow=True).content.decode()


def test_the_citizens_list_counts_active_devices_and_the_page_lists_them(operator, citizen):
    """devices adds both through the citizens admin's hooks (citizens cannot import devices)."""
    active, revoked = DeviceFactory(citizen=citizen), DeviceFactory(citizen=citizen, status=Device.Status.REVOKED)
    DeviceFactory()  # another citizen's
    listing = operator.get(reverse("admin:citizens_citizen_changelist")).content.decode()
    assert "active devices" in listing.lower()
    row = next(line for line in listing.split("<tr") if citizen.user_id in line)
    assert '<td class="field-active_devices">1</td>' in row
    page = operator.get(reverse("admin:citizens_citizen_change", args=[citizen.pk])).content.decode()
    assert str(active.pk) in page and str(revoked.pk) in page

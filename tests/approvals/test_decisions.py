"""docs/contract §6: the device side. The device view, and the decision checks 0-6 in order."""

from __future__ import annotations

import base64
import datetime
import time

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest
from audit.models import AuditEntry
from citizens.models import Citizen
from devices import crypto
from devices.models import Device
from tests.approvals.conftest import (
    LIST_PATH,
    create,
    decide,
    decision_path,
    device_view_of,
    device_views,
    login_body,
    payment_body,
    post_decision,
)
from tests.approvals.test_create import assert_problem
from tests.factories import DeviceFactory, RelyingPartyFactory
from tests.phone import Phone

pytestmark = pytest.mark.django_db


def status_of(approval: dict) -> str:
    return ApprovalRequest.objects.get(id=approval["id"]).status


def failed_attempts(citizen) -> int:
    return Citizen.objects.get(pk=citizen.pk).failed_attempts


@pytest.fixture
def payment(rp_api, citizen, device) -> dict:
    return create(rp_api, payment_body(citizen)).json()


@pytest.fixture
def login(rp_api, citizen, device) -> dict:
    return create(rp_api, login_body(citizen)).json()


# --- the device view --------------------------------------------------------------------------


def test_device_view_is_exactly_the_contract(rp_api, payment, device, rp):
    (view,) = device_views(device)
    assert set(view) == {
        "id",
        "type",
        "rp_name",
        "binding_message",
        "payment",
        "nonce",
        "verification_code_required",
        "created_at",
        "expires_at",
    }
    assert view["id"] == payment["id"] and view["type"] == "payment" and view["rp_name"] == rp.name
    assert view["payment"] == payment["payment"] and view["verification_code_required"] is False
    assert view["created_at"] == payment["created_at"] and view["expires_at"] == payment["expires_at"]
    nonce = view["nonce"]
    assert "=" not in nonce and "+" not in nonce and "/" not in nonce
    assert len(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))) >= 16


def test_device_list_is_the_citizens_pending_unexpired_requests_newest_first(rp_api, citizen, device, second_device):
    first = create(rp_api, login_body(citizen)).json()
    second = create(rp_api, payment_body(citizen)).json()
    third = create(rp_api, login_body(citizen, binding_message="third")).json()
    # Another citizen's request is not shown.
    other = DeviceFactory()
    create(rp_api, login_body(other.citizen))
    # Neither a decided nor an overdue one.
    assert decide(device, third, "deny").status_code == 200
    ApprovalRequest.objects.filter(id=first["id"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    views = device_views(second_device)  # every active device of the citizen sees them
    assert [view["id"] for view in views] == [second["id"]]
    assert status_of(first) == "expired"  # the read recorded the expiry
    newest = create(rp_api, login_body(citizen)).json()
    assert [view["id"] for view in device_views(device)] == [newest["id"], second["id"]]


def test_device_list_needs_a_device_token(api, device):
    assert_problem(api.get(LIST_PATH), 401, "invalid_device_token")
    assert_problem(api.get(LIST_PATH, **device.phone.auth("GET", "/api/v1/device")), 401, "invalid_device_token")


# --- successful decisions ---------------------------------------------------------------------


def test_approve_payment(rp_api, payment, device, citizen):
    response = decide(device, payment)
    assert response.status_code == 200
    assert response.json() == {"id": payment["id"], "status": "approved"}
    resource = rp_api.get(f"/api/v1/approvals/{payment['id']}").json()
    assert resource["status"] == "approved" and resource["decided_at"].endswith("Z")
    assert resource["result"]["token"].count(".") == 2
    approval = ApprovalRequest.objects.get(id=payment["id"])
    assert approval.decided_by_device_id == device.id
    assert AuditEntry.objects.filter(action="approval.decided", object_id=payment["id"]).exists()
    assert device_views(device) == []


def test_deny_login_needs_no_verification_code(rp_api, login, device):
    response = decide(device, login, "deny", verification_code=None)
    assert response.json() == {"id": login["id"], "status": "denied"}
    assert rp_api.get(f"/api/v1/approvals/{login['id']}").json()["result"]["token"]


def test_approve_login_with_the_verification_code(login, device):
    assert decide(device, login, verification_code=login["verification_code"]).json()["status"] == "approved"


def test_ed25519_device_can_decide(rp_api):
    device = DeviceFactory(phone=Phone(private_key=crypto.generate_private_key("EdDSA")))
    approval = create(rp_api, payment_body(device.citizen)).json()
    assert decide(device, approval).json()["status"] == "approved"


def test_first_valid_decision_wins_across_devices(payment, device, second_device):
    view = device_view_of(second_device, payment["id"])
    late = second_device.phone.sign_decision(view, "deny")
    assert decide(device, payment).status_code == 200
    body = assert_problem(post_decision(second_device, payment["id"], late), 409, "approval_not_pending")
    assert body["approval_status"] == "approved"
    assert status_of(payment) == "approved"


# --- check 0: device token -------------------------------------------------------------------


def test_invalid_device_token(api, payment, device):
    path = decision_path(payment["id"])
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    assert_problem(api.post(path, {"signed_decision": signed}, format="json"), 401, "invalid_device_token")
    wrong_path = device.phone.auth("POST", LIST_PATH)
    assert_problem(api.post(path, {"signed_decision": signed}, format="json", **wrong_path), 401, "invalid_device_token")
    Device.objects.filter(id=device.id).update(status=Device.Status.REVOKED)
    assert_problem(post_decision(device, payment["id"], signed), 401, "invalid_device_token")
    assert status_of(payment) == "pending"


# --- check 1: signature ----------------------------------------------------------------------


def _der_signed(view: dict, phone: Phone) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    assert isinstance(phone.private_key, ec.EllipticCurvePrivateKey)
    good = phone.sign_decision(view)
    header, payload, _ = good.split(".")
    der = phone.private_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    return f"{header}.{payload}.{crypto.b64url_encode(der)}"


@pytest.mark.parametrize(
    "forge",
    [
        "another_key",
        "kid_of_other_device",
        "wrong_typ",
        "der_signature",
        "not_a_jws",
        "alg_none",
        "tampered_payload",
    ],
)
def test_invalid_signature_counts_a_failed_attempt(payment, device, citizen, forge):
    view = device_view_of(device, payment["id"])
    other = DeviceFactory(citizen=citizen)
    if forge == "another_key":
        signed = crypto.sign_jws(
            {"approval_id": view["id"]},
            crypto.generate_private_key(),
            headers={"typ": "approval-decision+jwt", "kid": str(device.id)},
        )
    elif forge == "kid_of_other_device":
        signed = other.phone.sign_decision(view)  # valid signature, but by another device than the token's
    elif forge == "wrong_typ":
        signed = crypto.sign_jws(
            {"approval_id": view["id"]}, device.phone.private_key, headers={"typ": "device+jwt", "kid": str(device.id)}
        )
    elif forge == "der_signature":
        signed = _der_signed(view, device.phone)
    elif forge == "not_a_jws":
        signed = "hello"
    elif forge == "alg_none":
        header = crypto.b64url_encode(b'{"alg":"none","typ":"approval-decision+jwt","kid":"%s"}' % str(device.id).encode())
        signed = f"{header}.{crypto.b64url_encode(b'{}')}."
    else:
        header, _, signature = device.phone.sign_decision(view).split(".")
        forged_payload = crypto.b64url_encode(b'{"decision":"approve"}')
        signed = f"{header}.{forged_payload}.{signature}"
    body = assert_problem(post_decision(device, payment["id"], signed), 401, "invalid_signature")
    assert body["code"] == "invalid_signature"
    assert status_of(payment) == "pending"
    assert failed_attempts(citizen) == 1


def test_invalid_signature_comes_before_not_found(device, citizen):
    assert_problem(post_decision(device, "00000000-0000-0000-0000-000000000000", "x.y.z"), 401, "invalid_signature")
    assert failed_attempts(citizen) == 1


# --- check 2: the request exists and is the citizen's ---------------------------------------


def test_not_found(rp_api, device, payment):
    view = device_view_of(device, payment["id"])
    signed = device.phone.sign_decision(view)
    for missing in ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "1" * 300]:
        assert_problem(post_decision(device, missing, signed), 404, "not_found")
    stranger = DeviceFactory()
    other = create(rp_api, login_body(stranger.citizen)).json()
    assert_problem(post_decision(device, other["id"], signed), 404, "not_found")
    assert status_of(other) == "pending"


# --- check 3: expiry and status --------------------------------------------------------------


def test_decision_after_expiry_is_410_and_records_the_expiry(payment, device, citizen):
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    ApprovalRequest.objects.filter(id=payment["id"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    body = assert_problem(post_decision(device, payment["id"], signed), 410, "approval_expired")
    assert body["approval_status"] == "expired"
    assert status_of(payment) == "expired"
    assert AuditEntry.objects.filter(action="approval.expired", object_id=payment["id"]).count() == 1
    assert failed_attempts(citizen) == 0


def test_decided_request_past_expiry_is_410_with_its_status(payment, device):
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    assert post_decision(device, payment["id"], signed).status_code == 200
    ApprovalRequest.objects.filter(id=payment["id"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    body = assert_problem(post_decision(device, payment["id"], signed), 410, "approval_expired")
    assert body["approval_status"] == "approved"


def test_replay_to_the_same_request_is_409_and_changes_nothing(rp_api, payment, device):
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    assert post_decision(device, payment["id"], signed).status_code == 200
    before = rp_api.get(f"/api/v1/approvals/{payment['id']}").json()
    audit_count = AuditEntry.objects.count()
    body = assert_problem(post_decision(device, payment["id"], signed), 409, "approval_not_pending")
    assert body["approval_status"] == "approved"
    assert rp_api.get(f"/api/v1/approvals/{payment['id']}").json() == before
    assert AuditEntry.objects.count() == audit_count


def test_decision_on_a_cancelled_request(rp_api, payment, device):
    signed = device.phone.sign_decision(device_view_of(device, payment["id"]))
    assert rp_api.post(f"/api/v1/approvals/{payment['id']}/cancel").status_code == 200
    body = assert_problem(post_decision(device, payment["id"], signed), 409, "approval_not_pending")
    assert body["approval_status"] == "cancelled"


# --- check 4: dynamic linking ----------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        {"approval_id": "00000000-0000-0000-0000-000000000000"},
        {"nonce": "AAAAAAAAAAAAAAAAAAAAAA"},
        {"type": "login"},
        {"rp_name": "Evil ApS"},
        {"binding_message": "Order 10024 at Webshop ApS"},
        {"payment": {"amount": "1.00", "currency": "DKK", "payee": "Webshop ApS"}},
        {"payment": {"amount": "149.95", "currency": "EUR", "payee": "Webshop ApS"}},
        {"payment": {"amount": "149.95", "currency": "DKK", "payee": "Evil ApS"}},
        {"payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS", "extra": "x"}},
        {"payment": {"amount": "149.95", "currency": "DKK"}},
        {"payment": {"amount": 149.95, "currency": "DKK", "payee": "Webshop ApS"}},
        {"payment": None},
    ],
)
def test_payload_mismatch_fails_the_request(rp_api, payment, device, citizen, tamper):
    body = assert_problem(decide(device, payment, **tamper), 422, "payload_mismatch")
    assert body["status"] == 422
    assert status_of(payment) == "failed"
    assert failed_attempts(citizen) == 1
    resource = rp_api.get(f"/api/v1/approvals/{payment['id']}").json()
    assert resource["status"] == "failed" and resource["result"] is None
    assert AuditEntry.objects.filter(action="approval.failed", object_id=payment["id"]).exists()


def test_missing_signed_field_is_a_mismatch(payment, device):
    view = device_view_of(device, payment["id"])
    claims = {key: value for key, value in view.items() if key in {"nonce", "type", "rp_name", "binding_message", "payment"}}
    claims.update({"decision": "approve", "iat": int(time.time())})  # approval_id left out
    signed = crypto.sign_jws(claims, device.phone.private_key, headers={"typ": "approval-decision+jwt", "kid": str(device.id)})
    assert_problem(post_decision(device, payment["id"], signed), 422, "payload_mismatch")


def test_login_payment_must_be_null(login, device):
    assert_problem(decide(device, login, payment={}), 422, "payload_mismatch")


def test_replay_to_another_request_is_a_payload_mismatch(rp_api, citizen, device):
    first = create(rp_api, payment_body(citizen)).json()
    second = create(rp_api, payment_body(citizen)).json()
    signed_for_first = device.phone.sign_decision(device_view_of(device, first["id"]))
    assert_problem(post_decision(device, second["id"], signed_for_first), 422, "payload_mismatch")
    assert status_of(second) == "failed"
    assert status_of(first) == "pending"
    assert post_decision(device, first["id"], signed_for_first).status_code == 200


# --- check 5: verification code --------------------------------------------------------------


@pytest.mark.parametrize("code", [None, "", "1", 42, "100", "wrong"])
def test_verification_code_mismatch_fails_the_request(login, device, citizen, code):
    if code == "wrong":
        code = f"{(int(login['verification_code']) + 1) % 100:02d}"
    body = assert_problem(decide(device, login, verification_code=code), 422, "verification_code_mismatch")
    assert body["code"] == "verification_code_mismatch"
    assert status_of(login) == "failed"
    assert failed_attempts(citizen) == 1


def test_payload_is_checked_before_the_verification_code(login, device):
    assert_problem(decide(device, login, verification_code="xx", binding_message="other"), 422, "payload_mismatch")


# --- check 6: freshness ----------------------------------------------------------------------


@pytest.mark.parametrize("iat", [-301, 305, "now", None, 1.5, True])
def test_stale_decision(payment, device, citizen, iat):
    # A future iat comes nearer while the request travels (and int() floors it up to 1 s): +305
    # leaves the check a few seconds on a busy machine, where +301 failed now and then.
    if isinstance(iat, int) and not isinstance(iat, bool):
        iat = int(time.time()) + iat
    assert_problem(decide(device, payment, iat=iat), 422, "stale_decision")
    assert status_of(payment) == "pending"
    assert failed_attempts(citizen) == 0
    assert decide(device, payment).status_code == 200  # a fresh one still works


def test_decision_within_300_seconds(payment, device):
    assert decide(device, payment, iat=int(time.time()) - 290).status_code == 200


# --- malformed bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"signed_decision": None}, {"signed_decision": 5}, {"signed_decision": "x" * 20000}, []])
def test_malformed_decision_body(api, payment, device, body):
    path = decision_path(payment["id"])
    response = api.post(path, body, format="json", **device.phone.auth("POST", path))
    assert_problem(response, 400, "validation_error")
    assert status_of(payment) == "pending"


def test_unknown_decision_value(payment, device):
    body = assert_problem(decide(device, payment, "maybe"), 400, "validation_error")
    assert "signed_decision.decision" in body["errors"]
    assert status_of(payment) == "pending"


def test_relying_party_name_change_is_a_mismatch(payment, device, rp):
    view = device_view_of(device, payment["id"])
    rp.name = "Renamed ApS"
    rp.save()
    assert_problem(post_decision(device, payment["id"], device.phone.sign_decision(view)), 422, "payload_mismatch")


def test_other_relying_party_requests_are_not_mixed_up(citizen, device, api):
    other = RelyingPartyFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    approval = create(api, login_body(citizen)).json()
    assert device_view_of(device, approval["id"])["rp_name"] == other.name

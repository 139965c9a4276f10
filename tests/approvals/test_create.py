"""docs/contract §5: creating approval requests, every rule and error code of POST /api/v1/approvals."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest, IdempotencyRecord
from audit.models import AuditEntry
from devices.models import Device
from tests.approvals.conftest import create, device_views, login_body, payment_body
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory

pytestmark = pytest.mark.django_db


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body


def test_payment_request_is_created_with_the_contract_resource(rp_api, citizen, device):
    before = timezone.now()
    response = create(rp_api, payment_body(citizen, callback_url="https://shop.example/hooks/nemid"))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "type",
        "status",
        "login_hint",
        "binding_message",
        "payment",
        "verification_code",
        "created_at",
        "expires_at",
        "decided_at",
        "result",
    }
    assert body["type"] == "payment" and body["status"] == "pending" and body["login_hint"] == citizen.user_id
    assert body["payment"] == {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}
    assert body["verification_code"] is None  # number matching defaults to off for payments
    assert body["decided_at"] is None and body["result"] is None
    assert body["created_at"].endswith("Z") and body["expires_at"].endswith("Z")
    created = datetime.datetime.fromisoformat(body["created_at"])
    expires = datetime.datetime.fromisoformat(body["expires_at"])
    assert created >= before - datetime.timedelta(seconds=1)
    assert (expires - created).total_seconds() == 300  # payment default
    assert response["Location"] == f"/api/v1/approvals/{body['id']}"
    approval = ApprovalRequest.objects.get(id=body["id"])
    assert approval.callback_url == "https://shop.example/hooks/nemid"
    assert AuditEntry.objects.filter(action="approval.created", object_id=body["id"]).exists()


def test_login_defaults_to_number_matching_and_120_seconds(rp_api, citizen, device):
    body = create(rp_api, login_body(citizen)).json()
    assert body["payment"] is None
    code = body["verification_code"]
    assert isinstance(code, str) and len(code) == 2 and code.isdigit()
    created = datetime.datetime.fromisoformat(body["created_at"])
    assert (datetime.datetime.fromisoformat(body["expires_at"]) - created).total_seconds() == 120
    # The device is told a code is required, but never the code itself.
    (view,) = device_views(device)
    assert view["verification_code_required"] is True
    assert "verification_code" not in view


def test_explicit_options_are_honoured(rp_api, citizen, device):
    body = create(rp_api, login_body(citizen, number_matching=False, expires_in=30)).json()
    assert body["verification_code"] is None
    created = datetime.datetime.fromisoformat(body["created_at"])
    assert (datetime.datetime.fromisoformat(body["expires_at"]) - created).total_seconds() == 30
    body = create(rp_api, payment_body(citizen, number_matching=True, expires_in=600)).json()
    assert len(body["verification_code"]) == 2


def test_verification_codes_cover_00_to_99(rp_api, citizen, device, settings):
    settings.NEMID_MAX_PENDING_APPROVALS = 1000
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ()
    codes = {create(rp_api, login_body(citizen)).json()["verification_code"] for _ in range(100)}
    assert all(len(code) == 2 and code.isdigit() for code in codes)
    assert len(codes) > 40  # random, not a constant


def test_type_not_allowed(citizen, device, api):
    rp = RelyingPartyFactory(allowed_types=["login"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    assert_problem(create(api, payment_body(citizen)), 403, "type_not_allowed")
    assert create(api, login_body(citizen)).status_code == 201


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer " + "x" * 5000])
def test_invalid_api_key(api, citizen, device, authorization):
    if authorization:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    body = assert_problem(create(api, login_body(citizen)), 401, "invalid_api_key")
    assert "detail" in body


def test_unknown_user(rp_api, citizen, device):
    for hint in ["9999999999", "12345", "abcdefghij", "5000000000 "]:
        assert_problem(create(rp_api, login_body(citizen, login_hint=hint)), 422, "unknown_user")


def test_no_active_device(rp_api):
    citizen = CitizenFactory()
    assert_problem(create(rp_api, login_body(citizen)), 409, "no_active_device")
    DeviceFactory(citizen=citizen, status=Device.Status.REVOKED)
    assert_problem(create(rp_api, login_body(citizen)), 409, "no_active_device")


def test_user_locked(rp_api, citizen, device):
    citizen.locked_until = timezone.now() + datetime.timedelta(minutes=10)
    citizen.save()
    body = assert_problem(create(rp_api, payment_body(citizen)), 423, "user_locked")
    assert body["status"] == 423
    response = create(rp_api, login_body(citizen))
    assert_problem(response, 423, "user_locked")
    assert 590 <= int(response["Retry-After"]) <= 600
    citizen.locked_until = timezone.now() - datetime.timedelta(seconds=1)  # a lock that ran out
    citizen.save()
    assert create(rp_api, login_body(citizen)).status_code == 201


def test_fraud_login_block_refuses_login_but_not_payment(rp_api, citizen, device):
    citizen.login_blocked_until = timezone.now() + datetime.timedelta(minutes=10)
    citizen.save()
    assert_problem(create(rp_api, login_body(citizen)), 423, "user_locked")
    assert create(rp_api, payment_body(citizen)).status_code == 201


@pytest.mark.parametrize(
    "message",
    ["x" * 101, "line\nbreak", "tab\there", "bell\x07", "nul\x00", "\u202eevil", "zero\u200bwidth", 123, None, ["a"], {"a": 1}],
)
def test_invalid_binding_message(rp_api, citizen, device, message):
    body = assert_problem(create(rp_api, login_body(citizen, binding_message=message)), 400, "invalid_binding_message")
    assert "binding_message" in body["errors"]


@pytest.mark.parametrize("message", ["x" * 100, "Køb hos Ærø Ø-shop: 100 € 😀", ""])
def test_valid_binding_messages(rp_api, citizen, device, message):
    response = create(rp_api, login_body(citizen, binding_message=message))
    assert response.status_code == 201
    assert response.json()["binding_message"] == message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": "transfer"}, "type"),
        ({"type": None}, "type"),
        ({"type": 1}, "type"),
        ({"type": ["payment"]}, "type"),
        ({"login_hint": 5000000000}, "login_hint"),
        ({"login_hint": None}, "login_hint"),
        ({"login_hint": "1" * 10000}, "login_hint"),
        ({"payment": None}, "payment"),
        ({"payment": "149.95 DKK"}, "payment"),
        ({"payment": {"amount": "149.95", "currency": "DKK"}}, "payment.payee"),
        ({"payment": {"amount": "149.95", "currency": "DKK", "payee": "x" * 71}}, "payment.payee"),
        ({"payment": {"amount": "149.95", "currency": "DKK", "payee": "bad\npayee"}}, "payment.payee"),
        ({"payment": {"amount": "149.95", "currency": "DKK", "payee": ""}}, "payment.payee"),
        ({"payment": {"amount": 149.95, "currency": "DKK", "payee": "Shop"}}, "payment.amount"),
        ({"payment": {"amount": "149.9", "currency": "DKK", "payee": "Shop"}}, "payment.amount"),
        ({"payment": {"amount": "1500.0", "currency": "JPY", "payee": "Shop"}}, "payment.amount"),
        ({"payment": {"amount": "0.00", "currency": "DKK", "payee": "Shop"}}, "payment.amount"),
        ({"payment": {"amount": "-1.00", "currency": "DKK", "payee": "Shop"}}, "payment.amount"),
        ({"payment": {"amount": "1.00", "currency": "XXX", "payee": "Shop"}}, "payment.currency"),
        ({"payment": {"amount": "1.00", "currency": "dkk", "payee": "Shop"}}, "payment.currency"),
        ({"payment": {"amount": "1.00", "currency": "DKK", "payee": "Shop", "extra": 1}}, "payment.extra"),
        ({"expires_in": 29}, "expires_in"),
        ({"expires_in": 601}, "expires_in"),
        ({"expires_in": "300"}, "expires_in"),
        ({"expires_in": 300.0}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": None}, "expires_in"),
        ({"number_matching": "true"}, "number_matching"),
        ({"number_matching": 1}, "number_matching"),
        ({"callback_url": "http://shop.example/hook"}, "callback_url"),
        ({"callback_url": "ftp://shop.example/hook"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"callback_url": 42}, "callback_url"),
        ({"callback_url": "https://" + "a" * 2000 + ".example"}, "callback_url"),
    ],
)
def test_payment_validation_errors(rp_api, citizen, device, overrides, field):
    body = assert_problem(create(rp_api, payment_body(citizen, **overrides)), 400, "validation_error")
    assert field in body["errors"], body["errors"]
    assert not ApprovalRequest.objects.exists()


def test_payment_is_forbidden_for_login(rp_api, citizen, device):
    body = assert_problem(
        create(rp_api, login_body(citizen, payment={"amount": "1.00", "currency": "DKK", "payee": "x"})), 400, "validation_error"
    )
    assert "payment" in body["errors"]
    assert create(rp_api, login_body(citizen, payment=None)).status_code == 201


def test_jpy_and_kwd_amounts(rp_api, citizen, device):
    ok = create(rp_api, payment_body(citizen, payment={"amount": "1500", "currency": "JPY", "payee": "Tokyo Shop"}))
    assert ok.status_code == 201 and ok.json()["payment"]["amount"] == "1500"
    ok = create(rp_api, payment_body(citizen, payment={"amount": "0.125", "currency": "KWD", "payee": "Kuwait Shop"}))
    assert ok.status_code == 201


def test_plain_http_callback_allowed_only_to_listed_hosts(rp_api, citizen, device):
    assert create(rp_api, login_body(citizen, callback_url="http://127.0.0.1:8001/hook")).status_code == 201


@pytest.mark.parametrize("raw", ["[]", '"text"', "null", "42", "{not json", ""])
def test_malformed_bodies(rp_api, citizen, device, raw):
    response = rp_api.post("/api/v1/approvals", raw, content_type="application/json")
    assert_problem(response, 400, "validation_error")


def test_non_json_content_type(rp_api, citizen, device):
    response = rp_api.post("/api/v1/approvals", "type=login", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response["Content-Type"] == "application/problem+json"


# --- idempotency ------------------------------------------------------------------------------


def test_idempotency_key_returns_the_first_request(rp_api, citizen, device):
    first = create(rp_api, payment_body(citizen), HTTP_IDEMPOTENCY_KEY="order-10023")
    again = create(rp_api, payment_body(citizen), HTTP_IDEMPOTENCY_KEY="order-10023")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ApprovalRequest.objects.count() == 1
    # Key order and whitespace are not part of "the body".
    reordered = rp_api.post(
        "/api/v1/approvals",
        '{"payment": {"payee": "Webshop ApS", "currency": "DKK", "amount": "149.95"}, "binding_message": '
        f'"Order 10023 at Webshop ApS",  "login_hint": "{citizen.user_id}", "type": "payment"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-10023",
    )
    assert reordered.json()["id"] == first.json()["id"]


def test_idempotency_key_with_another_body(rp_api, citizen, device):
    create(rp_api, payment_body(citizen), HTTP_IDEMPOTENCY_KEY="k1")
    changed = payment_body(citizen, payment={"amount": "149.96", "currency": "DKK", "payee": "Webshop ApS"})
    assert_problem(create(rp_api, changed, HTTP_IDEMPOTENCY_KEY="k1"), 422, "idempotency_key_reused")
    assert ApprovalRequest.objects.count() == 1


def test_idempotency_keys_are_per_relying_party(rp_api, citizen, device, api):
    other = RelyingPartyFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    a = create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="same")
    b = create(api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="same")
    assert a.json()["id"] != b.json()["id"]


def test_idempotency_key_is_forgotten_after_24_hours(rp_api, citizen, device):
    first = create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="old").json()
    IdempotencyRecord.objects.update(created_at=timezone.now() - datetime.timedelta(hours=24, seconds=1))
    second = create(rp_api, login_body(citizen, binding_message="another"), HTTP_IDEMPOTENCY_KEY="old")
    assert second.status_code == 201 and second.json()["id"] != first["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey", "ключ"])
def test_invalid_idempotency_key(rp_api, citizen, device, key):
    body = assert_problem(create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY=key), 400, "validation_error")
    assert "Idempotency-Key" in body["errors"]


def test_idempotency_key_of_255_characters(rp_api, citizen, device):
    assert create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="k" * 255).status_code == 201


def test_failed_creation_does_not_burn_the_key(rp_api, device):
    citizen = device.citizen
    citizen.locked_until = timezone.now() + datetime.timedelta(minutes=5)
    citizen.save()
    assert create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="k").status_code == 423
    citizen.locked_until = None
    citizen.save()
    assert create(rp_api, login_body(citizen), HTTP_IDEMPOTENCY_KEY="k").status_code == 201


# --- the pending limit ------------------------------------------------------------------------


def test_too_many_pending(rp_api, citizen, device):
    for _ in range(3):
        assert create(rp_api, payment_body(citizen, expires_in=200)).status_code == 201
    response = create(rp_api, login_body(citizen))
    assert_problem(response, 429, "too_many_pending")
    assert 195 <= int(response["Retry-After"]) <= 200
    # An expired one no longer counts, even before anything has recorded its expiry.
    ApprovalRequest.objects.filter(id=ApprovalRequest.objects.order_by("created_at").first().id).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert create(rp_api, login_body(citizen)).status_code == 201


def test_pending_limit_is_a_setting(rp_api, citizen, device, settings):
    settings.NEMID_MAX_PENDING_APPROVALS = 1
    assert create(rp_api, login_body(citizen)).status_code == 201
    assert_problem(create(rp_api, login_body(citizen)), 429, "too_many_pending")


def test_created_hook_runs_inside_the_creating_transaction(rp_api, citizen, device, monkeypatch):
    from django.db import connection

    from approvals import events

    calls = []
    monkeypatch.setattr(
        events, "approval_request_created", lambda approval, **_: calls.append((approval.id, connection.in_atomic_block))
    )
    body = create(rp_api, login_body(citizen)).json()
    assert calls == [(ApprovalRequest.objects.get().id, True)]
    assert str(calls[0][0]) == body["id"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ({"binding_message": "bad\nmessage"}, "invalid_binding_message"),
        ({"binding_message": "x" * 101}, "invalid_binding_message"),
        ({"payment": {"amount": "1.0", "currency": "DKK", "payee": "Shop"}}, "validation_error"),
        ({"payment": {"amount": "1.00", "currency": "XXX", "payee": "Shop"}}, "validation_error"),
        ({"payment": {"amount": "1.00", "currency": "DKK", "payee": "\x00"}}, "validation_error"),
        ({"payment": {"amount": "1.00", "currency": "DKK"}}, "validation_error"),
        ({"payment": {"amount": "1.00", "currency": "DKK", "payee": "Shop", "note": "x"}}, "validation_error"),
    ],
)
def test_the_service_rechecks_content_for_internal_callers(rp, citizen, device, content, code):
    from approvals.services import approval_request_create
    from nemid_app_backend.exceptions import ApplicationError

    arguments = {"binding_message": "ok", "payment": {"amount": "1.00", "currency": "DKK", "payee": "Shop"}, **content}
    with pytest.raises(ApplicationError) as raised:
        approval_request_create(relying_party=rp, type="payment", login_hint=citizen.user_id, **arguments)
    assert raised.value.code == code
    assert not ApprovalRequest.objects.exists()

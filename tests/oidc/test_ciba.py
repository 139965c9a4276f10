"""docs/contract §10 CIBA: backchannel requests on the approval engine, the token endpoint's CIBA
grant with its errors, ping notifications through the webhook outbox, and payments (RFC 9396)."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import ApprovalRequest
from approvals.services import approval_request_cancel, approval_request_create
from audit.models import AuditEntry
from citizens.models import Citizen
from oidc.models import BackchannelRequest
from tests.approvals.conftest import device_view_of, post_decision
from tests.factories import CitizenFactory, DeviceFactory
from tests.oidc.conftest import RegisteredClient, register, verify_id_token
from tests.realtime.helpers import Receiver, Reply
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def poll_client(db) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register(name="Danske Bank", ciba_mode="poll", allowed_types=["login", "payment"])


def backchannel(client: RegisteredClient, **params: Any) -> Any:
    body = {"scope": "openid", "binding_message": "Log in to Danske Bank: A7X", **params}
    body = {key: value for key, value in body.items() if value is not None}
    return APIClient().post(
        "/oidc/backchannel", urlencode(body, doseq=True), content_type="application/x-www-form-urlencoded", **client.basic()
    )


def token(client: RegisteredClient, auth_req_id: str, **headers: Any) -> Any:
    body = urlencode({"grant_type": CIBA, "auth_req_id": auth_req_id})
    return APIClient().post("/oidc/token", body, content_type="application/x-www-form-urlencoded", **(headers or client.basic()))


def error_of(response: Any) -> str:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return str(response.json()["error"])


def answer(device: Any, auth_req_id: str, decision: str = "approve") -> Any:
    approval = BackchannelRequest.objects.get(auth_req_id=auth_req_id).approval
    signed = device.phone.sign_decision(device_view_of(device, str(approval.id)), decision)
    return post_decision(device, str(approval.id), signed)


def let_interval_pass(auth_req_id: str) -> None:
    BackchannelRequest.objects.filter(auth_req_id=auth_req_id).update(
        last_polled_at=timezone.now() - datetime.timedelta(seconds=61)
    )


def test_poll_mode_login_end_to_end(poll_client, citizen, device):
    started = backchannel(poll_client, login_hint=citizen.user_id, requested_expiry="60")
    assert started.status_code == 200, started.content
    body = started.json()
    assert set(body) == {"auth_req_id", "expires_in", "interval"} and body["expires_in"] == 60 and body["interval"] == 5
    approval = BackchannelRequest.objects.get(auth_req_id=body["auth_req_id"]).approval
    assert approval.type == "login" and not approval.number_matching and approval.status == "pending"
    assert approval.binding_message == "Log in to Danske Bank: A7X"
    view = device_view_of(device, str(approval.id))
    assert view["rp_name"] == "Danske Bank" and view["verification_code_required"] is False

    pending = token(poll_client, body["auth_req_id"])
    assert pending.status_code == 400 and error_of(pending) == "authorization_pending"
    assert answer(device, body["auth_req_id"]).status_code == 200
    let_interval_pass(body["auth_req_id"])
    issued = token(poll_client, body["auth_req_id"])
    assert issued.status_code == 200, issued.content
    tokens = issued.json()
    claims = verify_id_token(tokens["id_token"], poll_client)
    approval.refresh_from_db()
    assert claims["nemid_decision"] == approval.device_signature
    assert claims["acr"].endswith("/Low") and claims["amr"] == ["pop"]
    assert claims["auth_time"] == int(approval.decided_at.timestamp())
    # the device's own signature verifies with the device key: evidence the client can keep
    decision = jwt.decode(claims["nemid_decision"], jwt.PyJWK(device.public_jwk).key, algorithms=["ES256"])
    assert decision["approval_id"] == str(approval.id) and decision["decision"] == "approve"
    again = token(poll_client, body["auth_req_id"])
    assert again.status_code == 400 and error_of(again) == "invalid_grant"


def test_polling_faster_than_the_interval_is_slow_down(poll_client, citizen, device):
    auth_req_id = backchannel(poll_client, login_hint=citizen.user_id).json()["auth_req_id"]
    assert error_of(token(poll_client, auth_req_id)) == "authorization_pending"
    fast = token(poll_client, auth_req_id)
    assert error_of(fast) == "slow_down"
    assert BackchannelRequest.objects.get(auth_req_id=auth_req_id).interval == 10
    let_interval_pass(auth_req_id)
    assert error_of(token(poll_client, auth_req_id)) == "authorization_pending"


def test_denied_is_access_denied_and_expired_is_expired_token(poll_client, citizen, device):
    denied = backchannel(poll_client, login_hint=citizen.user_id).json()["auth_req_id"]
    assert answer(device, denied, "deny").status_code == 200
    assert error_of(token(poll_client, denied)) == "access_denied"
    expired = backchannel(poll_client, login_hint=citizen.user_id, requested_expiry="30").json()["auth_req_id"]
    ApprovalRequest.objects.filter(backchannel_request__auth_req_id=expired).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert error_of(token(poll_client, expired)) == "expired_token"
    assert ApprovalRequest.objects.get(backchannel_request__auth_req_id=expired).status == "expired"


def test_another_clients_or_unknown_auth_req_id_is_invalid_grant(poll_client, citizen, device):
    auth_req_id = backchannel(poll_client, login_hint=citizen.user_id).json()["auth_req_id"]
    other = register(name="Other Bank", ciba_mode="poll")
    assert error_of(token(other, auth_req_id)) == "invalid_grant"
    assert error_of(token(poll_client, "no-such-request")) == "invalid_grant"
    assert BackchannelRequest.objects.get(auth_req_id=auth_req_id).last_polled_at is None  # nothing changed


def test_token_endpoint_client_errors(poll_client, citizen, device):
    auth_req_id = backchannel(poll_client, login_hint=citizen.user_id).json()["auth_req_id"]
    wrong = token(
        poll_client,
        auth_req_id,
        HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(f"{poll_client.client_id}:nope".encode()).decode(),
    )
    assert wrong.status_code == 401 and error_of(wrong) == "invalid_client"
    no_ciba = register(name="Web only")
    refused = token(no_ciba, auth_req_id)
    assert refused.status_code == 400 and error_of(refused) == "unauthorized_client"
    missing = APIClient().post(
        "/oidc/token", urlencode({"grant_type": CIBA}), content_type="application/x-www-form-urlencoded", **poll_client.basic()
    )
    assert error_of(missing) == "invalid_request"


@pytest.mark.parametrize(
    ("params", "error", "status"),
    [
        ({"scope": "profile"}, "invalid_scope", 400),
        ({"scope": "openid email"}, "invalid_scope", 400),
        ({"binding_message": None}, "invalid_binding_message", 400),
        ({"binding_message": "x" * 101}, "invalid_binding_message", 400),
        ({"binding_message": "line\nbreak"}, "invalid_binding_message", 400),
        ({"requested_expiry": "29"}, "invalid_request", 400),
        ({"requested_expiry": "601"}, "invalid_request", 400),
        ({"requested_expiry": "ten"}, "invalid_request", 400),
        ({"login_hint": None}, "invalid_request", 400),
        ({"login_hint": "9999999999"}, "unknown_user_id", 400),
        ({"login_hint_token": "x"}, "invalid_request", 400),
        ({"request": "eyJ"}, "invalid_request", 400),
        ({"acr_values": "https://data.gov.dk/concept/core/nsis/loa/Substantial"}, "unmet_authentication_requirements", 400),
        ({"acr_values": "urn:unknown"}, "invalid_request", 400),
        ({"authorization_details": "not json"}, "invalid_authorization_details", 400),
        ({"authorization_details": json.dumps([{"type": "account_information"}])}, "invalid_authorization_details", 400),
        (
            {"authorization_details": json.dumps([{"type": "payment", "amount": "1.5", "currency": "DKK", "payee": "X"}])},
            "invalid_authorization_details",
            400,
        ),
        (
            {"authorization_details": json.dumps([{"type": "payment", "amount": "1.50", "currency": "DKK"}])},
            "invalid_authorization_details",
            400,
        ),
    ],
)
def test_backchannel_request_errors_change_nothing(poll_client, citizen, device, params, error, status):
    params.setdefault("login_hint", citizen.user_id)
    response = backchannel(poll_client, **params)
    assert response.status_code == status and error_of(response) == error, response.content
    assert not ApprovalRequest.objects.exists() and not BackchannelRequest.objects.exists()


def test_backchannel_client_and_engine_refusals(poll_client, citizen, device):
    anonymous = APIClient().post(
        "/oidc/backchannel",
        urlencode({"scope": "openid", "login_hint": citizen.user_id, "binding_message": "x"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert anonymous.status_code == 401 and error_of(anonymous) == "invalid_client"
    web_only = register(name="Web only")
    assert error_of(backchannel(web_only, login_hint=citizen.user_id)) == "unauthorized_client"
    login_only = register(name="Login only", ciba_mode="poll", allowed_types=["login"])
    payment = json.dumps([{"type": "payment", "amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}])
    assert error_of(backchannel(login_only, login_hint=citizen.user_id, authorization_details=payment)) == "unauthorized_client"
    without_device = CitizenFactory()
    refused = backchannel(poll_client, login_hint=without_device.user_id)
    assert refused.status_code == 403 and error_of(refused) == "access_denied"
    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() + datetime.timedelta(hours=1))
    locked = backchannel(poll_client, login_hint=citizen.user_id)
    assert locked.status_code == 403 and error_of(locked) == "access_denied"
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize(
    "name", ["scope", "login_hint", "binding_message", "requested_expiry", "acr_values", "authorization_details", "user_code"]
)
def test_a_repeated_backchannel_parameter_is_invalid_request(poll_client, citizen, device, name):
    params = {
        "scope": "openid",
        "login_hint": citizen.user_id,
        "binding_message": "Log in to Danske Bank: A7X",
        "requested_expiry": "60",
        "acr_values": "https://data.gov.dk/concept/core/nsis/loa/Low",
        "authorization_details": json.dumps([{"type": "payment", "amount": "149.95", "currency": "DKK", "payee": "Webshop"}]),
        "user_code": "1234",
    }
    body = urlencode([*params.items(), (name, params[name])])
    response = APIClient().post(
        "/oidc/backchannel", body, content_type="application/x-www-form-urlencoded", **poll_client.basic()
    )
    assert response.status_code == 400 and error_of(response) == "invalid_request", response.content
    assert not ApprovalRequest.objects.exists() and not BackchannelRequest.objects.exists()


def test_a_repeated_token_parameter_is_invalid_request(poll_client, citizen, device):
    auth_req_id = backchannel(poll_client, login_hint=citizen.user_id).json()["auth_req_id"]
    answer(device, auth_req_id)
    for body in (
        [("grant_type", CIBA), ("auth_req_id", "unknown"), ("auth_req_id", auth_req_id)],
        [("grant_type", CIBA), ("grant_type", CIBA), ("auth_req_id", auth_req_id)],
    ):
        response = APIClient().post(
            "/oidc/token", urlencode(body), content_type="application/x-www-form-urlencoded", **poll_client.basic()
        )
        assert response.status_code == 400 and error_of(response) == "invalid_request", response.content
    assert token(poll_client, auth_req_id).status_code == 200  # not redeemed by the refused requests


def test_a_prompt_limit_refusal_is_audited(poll_client, citizen, device, settings):
    """The refusal's audit entry, written by the engine, is not rolled back by the backchannel
    request's own transaction (docs/contract §7: refusals are audited)."""
    settings.NEMID_MAX_PENDING_APPROVALS = 1000
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((1, 600),)
    assert backchannel(poll_client, login_hint=citizen.user_id).status_code == 200
    refused = backchannel(poll_client, login_hint=citizen.user_id)
    assert refused.status_code == 429 and error_of(refused) == "slow_down" and int(refused["Retry-After"]) > 0
    entry = AuditEntry.objects.get(action="approval.rate_limited")
    assert entry.object_type == "citizen" and entry.object_id == citizen.user_id
    assert entry.actor == f"rp:{poll_client.client_id}" and entry.data["rule"] == "citizen:1/600s"
    assert ApprovalRequest.objects.count() == 1 and BackchannelRequest.objects.count() == 1


def test_too_many_pending_is_429_slow_down(poll_client, citizen, device, settings):
    settings.NEMID_MAX_PENDING_APPROVALS = 1
    assert backchannel(poll_client, login_hint=citizen.user_id).status_code == 200
    refused = backchannel(poll_client, login_hint=citizen.user_id)
    assert refused.status_code == 429 and error_of(refused) == "slow_down" and int(refused["Retry-After"]) > 0


def test_ping_mode_notifies_through_the_outbox(citizen, device, django_capture_on_commit_callbacks, celery_eager):
    with Receiver(Reply(204)) as receiver:
        client = register(name="Ping Bank", ciba_mode="ping", ciba_notification_endpoint=receiver.url + "/ciba")
        missing = backchannel(client, login_hint=citizen.user_id)
        assert error_of(missing) == "invalid_request"
        started = backchannel(client, login_hint=citizen.user_id, client_notification_token="ctok-8d67dc78-7faa-4d41")
        auth_req_id = started.json()["auth_req_id"]
        assert not receiver.received
        with django_capture_on_commit_callbacks(execute=True):
            assert answer(device, auth_req_id).status_code == 200
    (ping,) = receiver.received
    assert ping.path == "/ciba"
    assert ping.headers["authorization"] == "Bearer ctok-8d67dc78-7faa-4d41"
    assert json.loads(ping.body) == {"auth_req_id": auth_req_id}
    event = WebhookEvent.objects.get(event_type="ciba.ping")
    assert event.status == "delivered" and "ctok" not in event.authorization_encrypted
    assert token(client, auth_req_id).status_code == 200


def test_ping_mode_pings_when_the_request_ends_otherwise_too(citizen, device, django_capture_on_commit_callbacks):
    client = register(name="Ping Bank", ciba_mode="ping", ciba_notification_endpoint="https://ping.example/ciba")
    started = backchannel(client, login_hint=citizen.user_id, client_notification_token="ctok-1")
    backchannel_request = BackchannelRequest.objects.get(auth_req_id=started.json()["auth_req_id"])
    assert backchannel_request.approval.origin == "ciba"
    with django_capture_on_commit_callbacks():
        approval_request_cancel(relying_party=client.relying_party, approval_id=backchannel_request.approval_id)
    event = WebhookEvent.objects.get(event_type="ciba.ping")
    assert event.payload == {"auth_req_id": backchannel_request.auth_req_id} and event.url == "https://ping.example/ciba"


def test_the_final_transition_of_a_request_not_made_by_ciba_reads_no_backchannel_request(citizen, device):
    # The relying party has a CIBA client in ping mode, but this request came through its REST API.
    client = register(name="Ping Bank", ciba_mode="ping", ciba_notification_endpoint="https://ping.example/ciba")
    approval = approval_request_create(
        relying_party=client.relying_party, type="login", login_hint=citizen.user_id, binding_message="Log in"
    ).approval
    assert approval.origin == "other"
    with CaptureQueriesContext(connection) as captured:
        approval_request_cancel(relying_party=client.relying_party, approval_id=approval.id)
    assert ApprovalRequest.objects.get(id=approval.id).status == "cancelled"
    assert not [query for query in captured.captured_queries if BackchannelRequest._meta.db_table in query["sql"]]
    assert not WebhookEvent.objects.filter(event_type="ciba.ping").exists()


def test_a_ciba_request_of_unknown_origin_still_pings(citizen, device, django_capture_on_commit_callbacks):
    # Made before ApprovalRequest.origin existed, or by a process of the previous release during a
    # rolling deploy: the column's database default (blank) says "unknown", and the hook reads.
    client = register(name="Ping Bank", ciba_mode="ping", ciba_notification_endpoint="https://ping.example/ciba")
    started = backchannel(client, login_hint=citizen.user_id, client_notification_token="ctok-2")
    backchannel_request = BackchannelRequest.objects.get(auth_req_id=started.json()["auth_req_id"])
    ApprovalRequest.objects.filter(id=backchannel_request.approval_id).update(origin="")
    with django_capture_on_commit_callbacks():
        approval_request_cancel(relying_party=client.relying_party, approval_id=backchannel_request.approval_id)
    event = WebhookEvent.objects.get(event_type="ciba.ping")
    assert event.payload == {"auth_req_id": backchannel_request.auth_req_id}


def test_a_payment_through_ciba_is_a_payment_approval_with_dynamic_linking(poll_client, citizen, device):
    details = [{"type": "payment", "amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}]
    started = backchannel(
        poll_client, login_hint=citizen.user_id, binding_message="Order 10023", authorization_details=json.dumps(details)
    )
    assert started.status_code == 200, started.content
    auth_req_id = started.json()["auth_req_id"]
    approval = BackchannelRequest.objects.get(auth_req_id=auth_req_id).approval
    assert approval.type == "payment" and approval.payment == {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}
    view = device_view_of(device, str(approval.id))
    # a phone that signs another amount than it was shown fails the request (§6 check 4)
    tampered = device.phone.sign_decision(view, payment={**view["payment"], "amount": "1.00"})
    assert post_decision(device, str(approval.id), tampered).status_code == 422
    assert error_of(token(poll_client, auth_req_id)) == "access_denied"

    started = backchannel(
        poll_client, login_hint=citizen.user_id, binding_message="Order 10024", authorization_details=json.dumps(details)
    )
    auth_req_id = started.json()["auth_req_id"]
    assert answer(device, auth_req_id).status_code == 200
    issued = token(poll_client, auth_req_id).json()
    assert issued["authorization_details"] == details
    claims = verify_id_token(issued["id_token"], poll_client)
    signed = jwt.decode(claims["nemid_decision"], options={"verify_signature": False})
    assert signed["type"] == "payment" and signed["payment"] == {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}
    assert AuditEntry.objects.filter(action="oidc.ciba_tokens_issued").count() == 1


def test_the_same_limits_and_devices_as_any_login(poll_client, citizen, device):
    second = DeviceFactory(citizen=citizen)
    auth_req_id = backchannel(poll_client, login_hint=citizen.user_id).json()["auth_req_id"]
    approval = BackchannelRequest.objects.get(auth_req_id=auth_req_id).approval
    assert device_view_of(second, str(approval.id))["id"] == str(approval.id)
    assert AuditEntry.objects.filter(action="approval.created", object_id=str(approval.id)).exists()

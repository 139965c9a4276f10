"""docs/contract §8: POST/GET /api/v1/3ds/authentications — AReq -> ARes, then the RReq."""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.events import device_view
from approvals.models import ApprovalRequest
from approvals.services import approval_request_cancel, approval_request_decide
from audit.models import AuditEntry
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from threeds.models import ThreeDSAuthentication
from threeds.services import card_register, threeds_authentication_value_verify

pytestmark = pytest.mark.django_db

URL = "/api/v1/3ds/authentications"
VISA = "4111111111111111"


def areq(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "messageVersion": "2.2.0",
        "threeDSServerTransID": str(uuid.uuid4()),
        "acctNumber": VISA,
        "purchaseAmount": "14995",
        "purchaseCurrency": "208",
        "purchaseExponent": "2",
        "merchantName": "Webshop ApS",
        "threeDSRequestorDecReqInd": "Y",
        "threeDSRequestorDecMaxTime": "00005",
    }
    body.update(overrides)
    return body


@pytest.fixture
def acs_rp(db):  # type: ignore[no-untyped-def]
    return RelyingPartyFactory(name="Card Issuer 3DS Server", allowed_types=["3ds"])


@pytest.fixture
def acs(acs_rp) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {acs_rp.api_key}")
    return client


@pytest.fixture
def card(device):  # type: ignore[no-untyped-def]
    return card_register(citizen=device.citizen, pan=VISA, actor="test")


def start(acs: APIClient, **overrides: object) -> dict:  # type: ignore[type-arg]
    response = acs.post(URL, areq(**overrides), format="json")
    assert response.status_code == 200, response.content
    return response.json()


def decide(device, acs_trans_id: str, decision: str = "approve", **overrides: object) -> None:  # type: ignore[no-untyped-def]
    approval = ApprovalRequest.objects.select_related("relying_party").get(id=acs_trans_id)
    signed = device.phone.sign_decision(device_view(approval), decision, **overrides)
    approval_request_decide(device=device, approval_id=approval.id, signed_decision=signed)


def rreq(acs: APIClient, acs_trans_id: str) -> dict:  # type: ignore[type-arg]
    response = acs.get(f"{URL}/{acs_trans_id}")
    assert response.status_code == 200, response.content
    return response.json()


# --- ARes ------------------------------------------------------------------------------------


def test_a_registered_card_gets_a_decoupled_payment_approval(acs, acs_rp, card):
    body = areq()
    ares = start(acs, **body)
    assert ares["transStatus"] == "D" and ares["acsDecConInd"] == "Y"
    assert ares["messageVersion"] == "2.2.0" and ares["threeDSServerTransID"] == body["threeDSServerTransID"]
    approval = ApprovalRequest.objects.get(id=ares["acsTransID"])
    assert approval.type == "payment" and approval.status == "pending" and approval.citizen == card.citizen
    assert approval.relying_party == acs_rp and not approval.number_matching
    # What the citizen sees and signs: major units, the alphabetic code, the merchant as payee.
    assert approval.payment == {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}
    assert approval.binding_message == "Card payment, card ending 1111"  # the merchant is the payee, named once
    assert VISA not in approval.binding_message
    assert 299 <= (approval.expires_at - approval.created_at).total_seconds() <= 300  # 00005 minutes
    assert AuditEntry.objects.filter(action="threeds.authentication_created", object_id=ares["acsTransID"]).exists()
    assert VISA not in json.dumps(list(AuditEntry.objects.values_list("data", flat=True)))


@pytest.mark.parametrize(
    ("amount", "currency", "exponent", "shown"),
    [
        ("14995", "208", "2", ("149.95", "DKK")),
        ("5", "978", "2", ("0.05", "EUR")),
        ("1500", "392", "0", ("1500", "JPY")),
        ("1234", "414", "3", ("1.234", "KWD")),
    ],
)
def test_the_amount_is_converted_to_major_units(acs, card, amount, currency, exponent, shown):
    ares = start(acs, purchaseAmount=amount, purchaseCurrency=currency, purchaseExponent=exponent)
    approval = ApprovalRequest.objects.get(id=ares["acsTransID"])
    assert (approval.payment_amount, approval.payment_currency) == shown


@pytest.mark.parametrize(("max_time", "seconds"), [("00000", 30), ("00001", 60), ("00010", 600), ("99999", 600)])
def test_dec_max_time_is_floored_and_capped(acs, card, max_time, seconds):
    ares = start(acs, threeDSRequestorDecMaxTime=max_time)
    approval = ApprovalRequest.objects.get(id=ares["acsTransID"])
    assert abs((approval.expires_at - approval.created_at).total_seconds() - seconds) < 1


def test_an_unknown_card_is_n_08_and_creates_no_approval(acs, device):
    ares = start(acs)
    assert ares["transStatus"] == "N" and ares["transStatusReason"] == "08"
    assert "acsDecConInd" not in ares
    assert not ApprovalRequest.objects.exists()
    assert rreq(acs, ares["acsTransID"])["transStatus"] == "N"


def test_a_citizen_without_an_active_device_is_u(acs, citizen):
    card_register(citizen=citizen, pan=VISA, actor="test")
    ares = start(acs)
    assert ares["transStatus"] == "U" and ares["transStatusReason"] == "13"
    assert not ApprovalRequest.objects.exists()
    assert rreq(acs, ares["acsTransID"])["transStatus"] == "U"


def test_a_locked_citizen_is_u(acs, card):
    card.citizen.locked_until = timezone.now() + datetime.timedelta(hours=1)
    card.citizen.save(update_fields=["locked_until"])
    ares = start(acs)
    assert ares["transStatus"] == "U" and ares["transStatusReason"] == "12"
    assert not ApprovalRequest.objects.exists()


def test_a_fraud_login_block_does_not_stop_payments(acs, card):
    card.citizen.login_blocked_until = timezone.now() + datetime.timedelta(hours=1)
    card.citizen.save(update_fields=["login_blocked_until"])
    assert start(acs)["transStatus"] == "D"


def test_an_rp_not_allowed_3ds_gets_type_not_allowed(rp_api, card):
    response = rp_api.post(URL, areq(), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "type_not_allowed"
    assert not ApprovalRequest.objects.exists()


def test_3ds_needs_no_payment_permission(acs, acs_rp, card):
    assert not acs_rp.allows("payment")
    assert start(acs)["transStatus"] == "D"


def test_without_a_valid_key_is_401(api, card):
    assert api.post(URL, areq(), format="json").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Bearer nrp_wrong")
    response = api.post(URL, areq(), format="json")
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


def test_a_repeated_areq_answers_the_first_ares(acs, card):
    body = areq()
    first = start(acs, **body)
    assert start(acs, **body) == first
    assert ApprovalRequest.objects.count() == 1 and ThreeDSAuthentication.objects.count() == 1


def test_the_same_trans_id_for_another_transaction_is_refused(acs, card):
    body = areq()
    start(acs, **body)
    response = acs.post(URL, {**body, "purchaseAmount": "99"}, format="json")
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert ApprovalRequest.objects.count() == 1


def test_the_citizens_pending_limit_is_429(acs, card, settings):
    settings.NEMID_MAX_PENDING_APPROVALS = 1
    start(acs)
    response = acs.post(URL, areq(), format="json")
    assert response.status_code == 429 and response.json()["code"] == "too_many_pending"
    assert ThreeDSAuthentication.objects.count() == 1


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("messageVersion", "2.1.0"),
        ("messageVersion", 2.2),
        ("threeDSServerTransID", "not-a-uuid"),
        ("threeDSServerTransID", "8a880dc0d68a4ae0a6f93b5f1f4f1f4f"),
        ("acctNumber", "4111111111111112"),
        ("acctNumber", "411111111111"),
        ("acctNumber", "41111111111111111111"),
        ("acctNumber", 4111111111111111),
        ("acctNumber", "4111-1111-1111-1111"),
        ("purchaseAmount", "0"),
        ("purchaseAmount", "-100"),
        ("purchaseAmount", "149.95"),
        ("purchaseAmount", "1" * 49),
        ("purchaseAmount", "1" * 40),
        ("purchaseAmount", 14995),
        ("purchaseCurrency", "999"),
        ("purchaseCurrency", "959"),
        ("purchaseCurrency", "000"),
        ("purchaseCurrency", "DKK"),
        ("purchaseCurrency", "20"),
        ("purchaseExponent", "3"),
        ("purchaseExponent", "22"),
        ("merchantName", ""),
        ("merchantName", "   "),
        ("merchantName", "M" * 41),
        ("merchantName", "Shop\u0000"),
        ("merchantName", "Shop\nApS"),
        ("merchantName", None),
        ("threeDSRequestorDecReqInd", "N"),
        ("threeDSRequestorDecMaxTime", "5"),
        ("threeDSRequestorDecMaxTime", "0000a"),
        ("threeDSRequestorDecMaxTime", ["00005"]),
    ],
)
def test_invalid_fields_are_validation_errors(acs, card, field, value):
    response = acs.post(URL, areq(**{field: value}), format="json")
    assert response.status_code == 400, (field, value, response.content)
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error" and field in problem["errors"]
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize("field", ["messageVersion", "acctNumber", "purchaseCurrency", "threeDSRequestorDecMaxTime"])
def test_missing_fields_are_validation_errors(acs, card, field):
    body = areq()
    del body[field]
    response = acs.post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"null", b"{", b"\xff\xfe", b"{}"])
def test_odd_bodies_are_400_never_500(acs, raw):
    response = acs.generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"


def test_every_bad_field_is_reported_at_once(acs, card):
    response = acs.post(URL, areq(acctNumber="1", purchaseExponent="x", messageVersion="9"), format="json")
    assert set(response.json()["errors"]) == {"acctNumber", "purchaseExponent", "messageVersion"}


def test_the_pan_is_never_echoed_in_errors(acs):
    response = acs.post(URL, areq(acctNumber="4111111111111112"), format="json")
    assert "4111111111111112" not in response.content.decode()


def test_unknown_areq_fields_are_ignored(acs, card):
    assert start(acs, deviceChannel="02", messageCategory="01", browserAcceptHeader="text/html")["transStatus"] == "D"


def test_message_version_231_is_accepted(acs, card):
    ares = start(acs, messageVersion="2.3.1")
    assert ares["messageVersion"] == "2.3.1" and rreq(acs, ares["acsTransID"])["messageVersion"] == "2.3.1"


# --- RReq ------------------------------------------------------------------------------------


def test_pending_is_d(acs, card):
    ares = start(acs)
    result = rreq(acs, ares["acsTransID"])
    assert result["transStatus"] == "D" and result["acsTransID"] == ares["acsTransID"]
    assert "authenticationValue" not in result and "eci" not in result


def test_approved_is_y_with_a_verifiable_authentication_value(acs, card, device):
    body = areq()
    ares = start(acs, **body)
    decide(device, ares["acsTransID"], "approve")
    result = rreq(acs, ares["acsTransID"])
    assert result["transStatus"] == "Y" and result["eci"] == "05"
    assert result["threeDSServerTransID"] == body["threeDSServerTransID"]
    value = base64.b64decode(result["authenticationValue"], validate=True)
    assert len(value) == 20
    authentication = ThreeDSAuthentication.objects.select_related("approval").get(acs_trans_id=ares["acsTransID"])
    assert threeds_authentication_value_verify(authentication=authentication, authentication_value=result["authenticationValue"])
    assert rreq(acs, ares["acsTransID"])["authenticationValue"] == result["authenticationValue"]  # stable


def test_the_authentication_value_is_bound_to_its_transaction_and_key(acs, card, device, settings):
    first = start(acs)
    decide(device, first["acsTransID"])
    value = rreq(acs, first["acsTransID"])["authenticationValue"]
    second = start(acs)
    decide(device, second["acsTransID"])
    other_value = rreq(acs, second["acsTransID"])["authenticationValue"]
    assert value != other_value
    second_auth = ThreeDSAuthentication.objects.select_related("approval").get(acs_trans_id=second["acsTransID"])
    assert not threeds_authentication_value_verify(authentication=second_auth, authentication_value=value)
    assert not threeds_authentication_value_verify(authentication=second_auth, authentication_value="not base64!")
    assert not threeds_authentication_value_verify(authentication=second_auth, authentication_value=None)
    settings.NEMID_ISSUER_3DS_SECRET = "another issuer secret"
    assert not threeds_authentication_value_verify(authentication=second_auth, authentication_value=other_value)
    assert rreq(acs, second["acsTransID"])["authenticationValue"] != other_value


def test_the_authentication_value_covers_payee_and_merchant(acs, card, device):
    ares = start(acs)
    decide(device, ares["acsTransID"])
    value = rreq(acs, ares["acsTransID"])["authenticationValue"]
    authentication = ThreeDSAuthentication.objects.select_related("approval").get(acs_trans_id=ares["acsTransID"])
    assert threeds_authentication_value_verify(authentication=authentication, authentication_value=value)
    authentication.merchant_name = "Another Shop ApS"
    assert not threeds_authentication_value_verify(authentication=authentication, authentication_value=value)
    authentication.refresh_from_db()
    assert authentication.approval is not None
    authentication.approval.payment_payee = "Another Shop ApS"
    assert not threeds_authentication_value_verify(authentication=authentication, authentication_value=value)


def test_denied_is_n(acs, card, device):
    ares = start(acs)
    decide(device, ares["acsTransID"], "deny")
    result = rreq(acs, ares["acsTransID"])
    assert result["transStatus"] == "N" and result["transStatusReason"] == "01"
    assert "authenticationValue" not in result
    authentication = ThreeDSAuthentication.objects.get(acs_trans_id=ares["acsTransID"])
    assert not threeds_authentication_value_verify(
        authentication=authentication, authentication_value=base64.b64encode(b"x" * 20).decode()
    )


def test_denied_with_a_fraud_report_is_n_11(acs, card, device):
    ares = start(acs)
    decide(device, ares["acsTransID"], "deny", report_fraud=True)
    assert rreq(acs, ares["acsTransID"])["transStatusReason"] == "11"


def test_a_tampered_amount_fails_the_approval_and_is_n(acs, card, device):
    ares = start(acs)
    approval = ApprovalRequest.objects.select_related("relying_party").get(id=ares["acsTransID"])
    view = device_view(approval)
    signed = device.phone.sign_decision(view, "approve", payment={**view["payment"], "amount": "1.00"})
    with pytest.raises(Exception) as error:
        approval_request_decide(device=device, approval_id=approval.id, signed_decision=signed)
    assert getattr(error.value, "code", "") == "payload_mismatch"
    result = rreq(acs, ares["acsTransID"])
    assert result["transStatus"] == "N" and result["transStatusReason"] == "09"


def test_past_expires_at_is_u_03_before_the_beat_runs(acs, card):
    ares = start(acs, threeDSRequestorDecMaxTime="00000")
    ApprovalRequest.objects.filter(id=ares["acsTransID"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    result = rreq(acs, ares["acsTransID"])
    assert result["transStatus"] == "U" and result["challengeCancel"] == "03"
    assert ApprovalRequest.objects.get(id=ares["acsTransID"]).status == "expired"  # recorded lazily


def test_cancelled_is_u_07(acs, acs_rp, card):
    ares = start(acs)
    approval_request_cancel(relying_party=acs_rp, approval_id=ares["acsTransID"])
    result = rreq(acs, ares["acsTransID"])
    assert result["transStatus"] == "U" and result["challengeCancel"] == "07"


def test_another_rps_authentication_is_404(acs, card):
    ares = start(acs)
    other = RelyingPartyFactory(allowed_types=["3ds"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.api_key}")
    response = client.get(f"{URL}/{ares['acsTransID']}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("acs_trans_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_unknown_ids_are_404(acs, acs_trans_id):
    response = acs.get(f"{URL}/{acs_trans_id}")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


# --- verify_authentication_value --------------------------------------------------------------


def _verify(*args: str) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
    out, err = StringIO(), StringIO()
    status = 0
    try:
        call_command("verify_authentication_value", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, json.loads(out.getvalue() or "{}"), json.loads(err.getvalue() or "{}")


def test_verify_command(acs, card, device):
    ares = start(acs)
    decide(device, ares["acsTransID"])
    value = rreq(acs, ares["acsTransID"])["authenticationValue"]
    status, out, _ = _verify("--acs-trans-id", ares["acsTransID"], "--authentication-value", value)
    assert status == 0 and out == {"acs_trans_id": ares["acsTransID"], "valid": True}
    forged = base64.b64encode(bytes(20)).decode()
    status, _, err = _verify("--acs-trans-id", ares["acsTransID"], "--authentication-value", forged)
    assert status == 1 and err["code"] == "authentication_value_mismatch"
    status, _, err = _verify("--acs-trans-id", str(uuid.uuid4()), "--authentication-value", value)
    assert status == 1 and err["code"] == "not_found"


# --- webhook ---------------------------------------------------------------------------------


def test_the_3ds_result_webhook_carries_the_rreq(db):
    from webhooks.models import WebhookEvent

    rp = RelyingPartyFactory(allowed_types=["3ds"], callback_url="https://issuer.example/3ds")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    device = DeviceFactory(citizen=CitizenFactory())
    card_register(citizen=device.citizen, pan=VISA, actor="test")
    ares = start(client)
    decide(device, ares["acsTransID"])
    event = WebhookEvent.objects.get(relying_party=rp)
    assert event.event_type == "3ds.result"
    assert event.payload["type"] == "3ds.result"
    assert event.payload["data"] == rreq(client, ares["acsTransID"])


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_areqs_make_one_approval(acs_rp):
    import threading

    from django.db import connection

    device = DeviceFactory(citizen=CitizenFactory())
    card_register(citizen=device.citizen, pan=VISA, actor="test")
    body = areq()
    barrier = threading.Barrier(4)
    answers: list[tuple[int, dict]] = []  # type: ignore[type-arg]

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {acs_rp.api_key}")
        barrier.wait()
        try:
            response = client.post(URL, body, format="json")
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [status for status, _ in answers] == [200] * 4
    assert len({json.dumps(ares, sort_keys=True) for _, ares in answers}) == 1
    assert answers[0][1]["transStatus"] == "D"
    assert ApprovalRequest.objects.count() == 1 and ThreeDSAuthentication.objects.count() == 1


def test_the_openapi_schema_documents_the_3ds_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    create = schema["paths"]["/api/v1/3ds/authentications"]["post"]
    result = schema["paths"]["/api/v1/3ds/authentications/{acs_trans_id}"]["get"]
    assert create["operationId"] == "threeds_authentication_create" and "403" in create["responses"]
    assert result["operationId"] == "threeds_authentication_result" and "404" in result["responses"]
    areq_schema = schema["components"]["schemas"]["AReqRequest"]
    assert {"acctNumber", "purchaseAmount", "threeDSRequestorDecMaxTime"} <= set(areq_schema["properties"])
    assert "authenticationValue" in schema["components"]["schemas"]["RReq"]["properties"]


def test_the_rreq_builder_reads_an_overdue_request_as_expired(acs, card):
    """The webhook and any other reader get U/03 even before anything records the expiry."""
    from threeds.selectors import threeds_rreq

    ares = start(acs)
    ApprovalRequest.objects.filter(id=ares["acsTransID"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    authentication = ThreeDSAuthentication.objects.select_related("approval").get(acs_trans_id=ares["acsTransID"])
    assert threeds_rreq(authentication)["transStatus"] == "U"
    assert authentication.approval.status == "pending"  # a pure read: nothing was written


def test_an_upper_case_trans_id_is_echoed_exactly(acs, card):
    trans_id = str(uuid.uuid4()).upper()
    ares = start(acs, threeDSServerTransID=trans_id)
    assert ares["threeDSServerTransID"] == trans_id
    assert rreq(acs, ares["acsTransID"])["threeDSServerTransID"] == trans_id


def test_the_admin_shows_authentications_without_the_card_hash(admin_client, acs, card):
    ares = start(acs)
    authentication = ThreeDSAuthentication.objects.get(acs_trans_id=ares["acsTransID"])
    listing = admin_client.get("/admin/threeds/threedsauthentication/").content.decode()
    detail = admin_client.get(f"/admin/threeds/threedsauthentication/{authentication.pk}/change/").content.decode()
    assert ares["acsTransID"] in listing and "pending" in listing
    assert authentication.acct_number_hash not in listing + detail and VISA not in listing + detail

"""docs/contract §5: the result token, verified offline as an RP would, against the served JWKS."""

from __future__ import annotations

import datetime
import json

import jwt
import pytest
from django.conf import settings

from approvals.models import ApprovalRequest
from devices import crypto
from tests.approvals.conftest import create, decide, login_body, payment_body, second_device

__all__ = ["second_device"]

pytestmark = pytest.mark.django_db

CLAIMS = {
    "iss",
    "aud",
    "sub",
    "iat",
    "approval_id",
    "type",
    "status",
    "binding_message",
    "payment",
    "device_id",
    "decided_at",
    "device_signature",
    "exp",
    "jti",
    "cnf",
}


def verify_with_jwks(client, token: str, audience: str) -> dict:
    jwks = client.get("/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    key = jwt.PyJWK.from_dict(jwk)
    return jwt.decode(token, key.key, algorithms=["ES256"], audience=audience, issuer=settings.NEMID_ISSUER)


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_result_token_verifies_against_the_jwks(client, rp_api, rp, citizen, device, decision):
    approval = create(rp_api, payment_body(citizen)).json()
    assert decide(device, approval, decision).status_code == 200
    resource = rp_api.get(f"/api/v1/approvals/{approval['id']}").json()
    token = resource["result"]["token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = verify_with_jwks(client, token, rp.client_id)
    assert set(claims) == CLAIMS
    assert claims["aud"] == rp.client_id and claims["sub"] == citizen.user_id
    assert claims["approval_id"] == approval["id"] and claims["type"] == "payment"
    assert claims["status"] == ("approved" if decision == "approve" else "denied") == resource["status"]
    assert claims["binding_message"] == approval["binding_message"]
    assert claims["payment"] == {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}
    assert claims["device_id"] == str(device.id)
    assert claims["decided_at"] == resource["decided_at"] and claims["decided_at"].endswith("Z")
    datetime.datetime.fromisoformat(claims["decided_at"])
    # The evidence: the device's own signed decision, verbatim, verifiable with the device's key.
    stored = ApprovalRequest.objects.get(id=approval["id"]).device_signature
    assert claims["device_signature"] == stored
    _, signed = crypto.verify_jws(
        claims["device_signature"], crypto.load_public_jwk(device.public_jwk), typ="approval-decision+jwt"
    )
    assert signed["approval_id"] == approval["id"] and signed["decision"] == decision


def test_login_token_has_null_payment_and_is_bound_to_the_rp(client, rp_api, rp, citizen, device):
    approval = create(rp_api, login_body(citizen)).json()
    decide(device, approval)
    token = rp_api.get(f"/api/v1/approvals/{approval['id']}").json()["result"]["token"]
    assert verify_with_jwks(client, token, rp.client_id)["payment"] is None
    with pytest.raises(jwt.InvalidAudienceError):
        verify_with_jwks(client, token, "another-rp")
    header, payload, signature = token.split(".")
    forged = json.loads(jwt.utils.base64url_decode(payload))
    forged["status"] = "denied"
    forged_payload = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
    with pytest.raises(jwt.InvalidSignatureError):
        verify_with_jwks(client, f"{header}.{forged_payload}.{signature}", rp.client_id)


@pytest.mark.parametrize("outcome", ["cancel", "fail", "pending"])
def test_no_result_unless_approved_or_denied(rp_api, citizen, device, outcome):
    approval = create(rp_api, payment_body(citizen)).json()
    if outcome == "cancel":
        rp_api.post(f"/api/v1/approvals/{approval['id']}/cancel")
    elif outcome == "fail":
        decide(device, approval, payment=None)
    assert rp_api.get(f"/api/v1/approvals/{approval['id']}").json()["result"] is None
    assert ApprovalRequest.objects.get(id=approval["id"]).result_token == ""


def test_token_has_exp_jti_and_the_deciding_devices_key(client, rp_api, rp, citizen, device, second_device, settings):
    settings.NEMID_RESULT_TOKEN_LIFETIME = 600
    first = create(rp_api, payment_body(citizen)).json()
    decide(second_device, first)
    second = create(rp_api, payment_body(citizen)).json()
    decide(device, second)
    tokens = [rp_api.get(f"/api/v1/approvals/{a['id']}").json()["result"]["token"] for a in (first, second)]
    claims = [verify_with_jwks(client, token, rp.client_id) for token in tokens]
    assert [c["exp"] - c["iat"] for c in claims] == [600, 600]
    assert claims[0]["jti"] != claims[1]["jti"] and all(len(c["jti"]) >= 16 for c in claims)
    assert claims[0]["cnf"] == {"jwk": second_device.public_jwk}
    assert claims[1]["cnf"] == {"jwk": device.public_jwk}
    assert "d" not in claims[1]["cnf"]["jwk"]


def test_an_expired_token_is_refused_by_a_standard_verifier(client, rp_api, rp, citizen, device, settings):
    settings.NEMID_RESULT_TOKEN_LIFETIME = -1
    approval = create(rp_api, login_body(citizen)).json()
    decide(device, approval)
    token = rp_api.get(f"/api/v1/approvals/{approval['id']}").json()["result"]["token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_with_jwks(client, token, rp.client_id)


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_rp_verifies_the_device_signature_offline_with_only_the_tokens_cnf_jwk(client, rp_api, rp, citizen, device, decision):
    """What a relying party does with nothing but the JWKS it fetched once and the token: verify
    the token, take the device key from cnf.jwk (vouched for by the server's signature), verify the
    device's own signature with a stock JOSE library, and compare what the device signed with the token."""
    approval = create(rp_api, payment_body(citizen)).json()
    decide(device, approval, decision)
    token = rp_api.get(f"/api/v1/approvals/{approval['id']}").json()["result"]["token"]
    claims = verify_with_jwks(client, token, rp.client_id)

    device_key = jwt.PyJWK.from_dict(claims["cnf"]["jwk"])
    evidence = jwt.api_jws.PyJWS().decode_complete(claims["device_signature"], device_key.key, algorithms=["ES256", "EdDSA"])
    signed = json.loads(evidence["payload"])
    assert evidence["header"]["typ"] == "approval-decision+jwt" and evidence["header"]["kid"] == claims["device_id"]
    assert signed["approval_id"] == claims["approval_id"]
    assert signed["decision"] == {"approved": "approve", "denied": "deny"}[claims["status"]]
    assert signed["type"] == claims["type"] and signed["binding_message"] == claims["binding_message"]
    assert signed["payment"] == claims["payment"]
    # The signature is in its one accepted (low-S) form.
    s = int.from_bytes(crypto.b64url_decode(claims["device_signature"].rsplit(".", 1)[1])[32:], "big")
    assert s <= 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 // 2

    # Another key in cnf (a forged token) would not verify the evidence.
    other = jwt.PyJWK.from_dict(crypto.public_jwk_of(crypto.generate_private_key()))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.api_jws.PyJWS().decode_complete(claims["device_signature"], other.key, algorithms=["ES256"])

"""Only low-S ECDSA signatures are accepted from devices (docs/contract §1, §4, §6): the high-S twin
(r, n - s) of a valid signature verifies mathematically, and is refused exactly like a bad signature,
wherever a device signs (device tokens, registration proofs, signed decisions)."""

from __future__ import annotations

import pytest

from citizens.services import activation_code_issue
from devices import crypto
from devices.models import Device
from tests.approvals.conftest import create, device_view_of, payment_body, post_decision
from tests.phone import Phone

# The order of the P-256 group (FIPS 186-4 D.1.2.3), written here independently of the code under test.
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def high_s(token: str) -> str:
    """The same JWS with its signature's s replaced by n - s: still a valid ECDSA signature."""
    signing_input, signature = token.rsplit(".", 1)
    raw = crypto.b64url_decode(signature)
    s = int.from_bytes(raw[32:], "big")
    assert s <= N // 2  # the signer made the low form
    return f"{signing_input}.{crypto.b64url_encode(raw[:32] + (N - s).to_bytes(32, 'big'))}"


def test_signers_make_low_s_and_its_high_twin_is_refused_like_a_bad_signature():
    phone = Phone()
    key = crypto.load_public_jwk(phone.public_jwk)
    for _ in range(16):  # a raw ECDSA signer makes high-S half of the time
        token = crypto.sign_jws({"a": 1}, phone.private_key, headers={"typ": "x+jwt"})
        assert crypto.verify_jws(token, key, typ="x+jwt")[1] == {"a": 1}
        with pytest.raises(crypto.JwsInvalid) as high:
            crypto.verify_jws(high_s(token), key, typ="x+jwt")
        with pytest.raises(crypto.JwsInvalid) as wrong_key:
            crypto.verify_jws(crypto.sign_jws({"a": 1}, Phone().private_key, headers={"typ": "x+jwt"}), key, typ="x+jwt")
        assert str(high.value) == str(wrong_key.value)


def test_the_reference_client_signs_low_s():
    from devices import client

    private_key = crypto.generate_private_key()
    assert isinstance(private_key, crypto.ec.EllipticCurvePrivateKey)
    for _ in range(16):
        token = client.sign_jws(private_key, {"typ": "x+jwt"}, {"a": 1})
        assert int.from_bytes(crypto.b64url_decode(token.rsplit(".", 1)[1])[32:], "big") <= N // 2


@pytest.mark.django_db
def test_a_high_s_device_token_is_invalid_device_token(api, device):
    path = "/api/v1/device"
    response = api.get(path, HTTP_AUTHORIZATION=f"Device {high_s(device.phone.token('GET', path))}")
    assert response.status_code == 401 and response.json()["code"] == "invalid_device_token"
    assert api.get(path, **device.phone.auth("GET", path)).status_code == 200


@pytest.mark.django_db
def test_a_high_s_registration_proof_is_invalid_proof(api, citizen):
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    phone = Phone()
    body = {
        "activation_code": code,
        "public_key": phone.public_jwk,
        "name": "Pixel 8",
        "platform": "android",
        "proof": high_s(phone.registration_proof(code)),
    }
    response = api.post("/api/v1/devices", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_proof"
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_a_high_s_signed_decision_is_invalid_signature(rp_api, citizen, device):
    approval = create(rp_api, payment_body(citizen)).json()
    signed = device.phone.sign_decision(device_view_of(device, approval["id"]))
    response = post_decision(device, approval["id"], high_s(signed))
    assert response.status_code == 401 and response.json()["code"] == "invalid_signature"
    assert post_decision(device, approval["id"], signed).status_code == 200

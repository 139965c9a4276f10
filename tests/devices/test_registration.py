"""docs/contract §4: POST /api/v1/devices — keypair binding by activation code and proof of possession."""

from __future__ import annotations

import base64
import datetime
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.test import override_settings
from rest_framework.test import APIClient

from audit.models import AuditEntry
from citizens.models import ActivationCode
from citizens.services import activation_code_issue
from devices import crypto
from devices.models import Device
from tests.conftest import at_once
from tests.factories import CitizenFactory, DeviceFactory
from tests.phone import Phone

pytestmark = pytest.mark.django_db

URL = "/api/v1/devices"


def body(phone: Phone, code: str, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "activation_code": code,
        "public_key": phone.public_jwk,
        "name": "Pixel 8",
        "platform": "android",
        "push": {"provider": "fcm", "token": "fcm-registration-token"},
        "proof": phone.registration_proof(code),
    }
    data.update(overrides)
    return data


@pytest.fixture
def code(citizen):  # type: ignore[no-untyped-def]
    clear, _ = activation_code_issue(citizen=citizen, actor="test")
    return clear


def test_registration_binds_the_key_and_consumes_the_code(api, citizen, code):
    phone = Phone()
    response = api.post(URL, body(phone, code), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == {"device_id", "user_id", "status", "created_at"}
    assert data["user_id"] == citizen.user_id and data["status"] == "active"
    assert data["created_at"].endswith("Z")
    device = Device.objects.get(id=data["device_id"])
    assert device.public_jwk == phone.public_jwk and device.alg == "ES256"
    assert device.push_provider == "fcm" and device.push_token == "fcm-registration-token"
    assert ActivationCode.objects.get(citizen=citizen).used_at is not None
    assert AuditEntry.objects.filter(action="device.registered", object_id=data["device_id"]).exists()
    assert AuditEntry.objects.filter(action="activation_code.used", object_id=citizen.user_id).exists()
    # the code is single use
    again = api.post(URL, body(Phone(), code), format="json")
    assert again.status_code == 400 and again.json()["code"] == "invalid_activation_code"


def test_the_new_device_authenticates(api, code):
    phone = Phone()
    device_id = api.post(URL, body(phone, code), format="json").json()["device_id"]
    phone.device_id = device_id
    response = api.get("/api/v1/device", **phone.auth("GET", "/api/v1/device"))
    assert response.status_code == 200 and response.json()["device_id"] == device_id


def test_code_is_accepted_in_any_case_with_or_without_dashes(api, code):
    typed = code.replace("-", " ").lower()
    phone = Phone()
    response = api.post(URL, body(phone, typed, proof=phone.registration_proof(typed)), format="json")
    assert response.status_code == 201, response.content


def test_proof_may_sign_the_code_in_another_spelling(api, code):
    phone = Phone()
    response = api.post(URL, body(phone, code, proof=phone.registration_proof(code.replace("-", "").lower())), format="json")
    assert response.status_code == 201


def test_ed25519_key_registers(api, code):
    phone = Phone(private_key=crypto.generate_private_key("EdDSA"))
    response = api.post(URL, body(phone, code), format="json")
    assert response.status_code == 201, response.content
    device = Device.objects.get(id=response.json()["device_id"])
    assert device.alg == "EdDSA" and device.public_jwk["kty"] == "OKP"


def _webcrypto_proof(private_key: ec.EllipticCurvePrivateKey, code: str, *, der: bool = False) -> str:
    """What crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}) gives: raw r||s (64 bytes), with s
    brought to its low form as the app must (docs/contract §1; the demo phone does it in JavaScript)."""
    import json

    from cryptography.hazmat.primitives import hashes

    header = crypto.b64url_encode(json.dumps({"alg": "ES256", "typ": "device-registration+jwt"}).encode())
    payload = crypto.b64url_encode(json.dumps({"activation_code": code, "iat": int(time.time())}).encode())
    signing_input = f"{header}.{payload}".encode()
    der_signature = private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    if der:
        signature = der_signature
    else:
        r, s = decode_dss_signature(der_signature)
        signature = crypto.low_s(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"{header}.{payload}.{crypto.b64url_encode(signature)}"


def test_webcrypto_raw_signature_registers(api, code):
    private_key = ec.generate_private_key(ec.SECP256R1())
    phone = Phone(private_key=private_key)
    response = api.post(URL, body(phone, code, proof=_webcrypto_proof(private_key, code), platform="web"), format="json")
    assert response.status_code == 201, response.content


def test_der_signature_is_invalid_proof(api, code):
    private_key = ec.generate_private_key(ec.SECP256R1())
    phone = Phone(private_key=private_key)
    response = api.post(URL, body(phone, code, proof=_webcrypto_proof(private_key, code, der=True)), format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_proof"


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-384", "x": "AAAA", "y": "AAAA"},
        {"kty": "EC", "crv": "P-256", "x": crypto.b64url_encode(b"\x01" * 32), "y": crypto.b64url_encode(b"\x02" * 32)},
        {"kty": "EC", "crv": "P-256", "x": 1, "y": 2},
        {"kty": "OKP", "crv": "X25519", "x": crypto.b64url_encode(b"\x01" * 32)},
        "not a jwk",
        ["EC"],
    ],
)
def test_unacceptable_public_keys(api, code, jwk):
    response = api.post(URL, body(Phone(), code, public_key=jwk), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_public_key"
    assert response["Content-Type"] == "application/problem+json"


def test_private_member_d_is_refused(api, code):
    phone = Phone()
    numbers = phone.private_key.private_numbers()
    jwk = {**phone.public_jwk, "d": crypto.b64url_encode(numbers.private_value.to_bytes(32, "big"))}
    response = api.post(URL, body(phone, code, public_key=jwk), format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_public_key"


@pytest.mark.parametrize(
    "make_proof",
    [
        lambda phone, code: Phone().registration_proof(code),  # signed by another key
        lambda phone, code: phone.registration_proof(code, iat=int(time.time()) - 310),
        lambda phone, code: phone.registration_proof(code, iat=int(time.time()) + 310),
        lambda phone, code: phone.registration_proof("AAAA-BBBB-CCCC-DDDD"),
        lambda phone, code: phone.registration_proof(code, typ="JWT"),
        lambda phone, code: Phone(phone.private_key, "0" * 32).token("POST", "/api/v1/devices"),  # a device token is no proof
        lambda phone, code: "not.a.jws",
        lambda phone, code: "x" * 16384,
    ],
)
def test_invalid_proofs(api, code, make_proof):
    phone = Phone()
    response = api.post(URL, body(phone, code, proof=make_proof(phone, code)), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_proof"
    assert not Device.objects.exists()


def test_proof_with_non_integer_iat_is_invalid(api, code):
    phone = Phone()
    proof = crypto.sign_jws(
        {"activation_code": code, "iat": str(int(time.time()))}, phone.private_key, headers={"typ": "device-registration+jwt"}
    )
    response = api.post(URL, body(phone, code, proof=proof), format="json")
    assert response.json()["code"] == "invalid_proof"


def test_unknown_used_and_expired_codes_give_the_same_error(api, citizen):
    expired_code, row = activation_code_issue(citizen=citizen, actor="test")
    ActivationCode.objects.filter(pk=row.pk).update(expires_at=row.created_at - datetime.timedelta(seconds=1))
    used_code, used_row = activation_code_issue(citizen=CitizenFactory(), actor="test")
    ActivationCode.objects.filter(pk=used_row.pk).update(used_at=used_row.created_at)
    answers = []
    for candidate in ["ABCD-EFGH-JKMN-PQRS", expired_code, used_code, "short"]:
        phone = Phone()
        response = api.post(URL, body(phone, candidate), format="json")
        assert response.status_code == 400
        problem = response.json()
        answers.append((problem["code"], problem["detail"], problem["title"]))
    assert len(set(answers)) == 1 and answers[0][0] == "invalid_activation_code"


def test_a_new_code_supersedes_the_previous_one(api, citizen):
    first, _ = activation_code_issue(citizen=citizen, actor="test")
    second, _ = activation_code_issue(citizen=citizen, actor="test")
    assert api.post(URL, body(Phone(), first), format="json").json()["code"] == "invalid_activation_code"
    assert api.post(URL, body(Phone(), second), format="json").status_code == 201


@override_settings(NEMID_MAX_ACTIVE_DEVICES=2)
def test_device_limit(api, citizen):
    DeviceFactory(citizen=citizen)
    DeviceFactory(citizen=citizen, status=Device.Status.REVOKED)  # revoked devices do not count
    first, _ = activation_code_issue(citizen=citizen, actor="test")
    assert api.post(URL, body(Phone(), first), format="json").status_code == 201
    second, _ = activation_code_issue(citizen=citizen, actor="test")
    response = api.post(URL, body(Phone(), second), format="json")
    assert response.status_code == 409 and response.json()["code"] == "device_limit_reached"
    # the code was not consumed by the refused attempt
    assert ActivationCode.objects.filter(citizen=citizen, used_at__isnull=True).count() == 1


def test_default_limit_is_five_active_devices(api, citizen):
    for _ in range(5):
        DeviceFactory(citizen=citizen)
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    assert api.post(URL, body(Phone(), code), format="json").json()["code"] == "device_limit_reached"


def test_a_key_is_bound_once(api, citizen, code):
    phone = Phone()
    DeviceFactory(phone=phone)
    response = api.post(URL, body(phone, code), format="json")
    assert response.status_code == 409 and response.json()["code"] == "device_already_registered"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"activation_code": 1234}, "activation_code"),
        ({"activation_code": None}, "activation_code"),
        ({"activation_code": "A" * 65}, "activation_code"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": ["Pixel"]}, "name"),
        ({"name": "Pixel\x00 8"}, "name"),
        ({"platform": "windows"}, "platform"),
        ({"platform": 1}, "platform"),
        ({"proof": 42}, "proof"),
        ({"public_key": None}, "public_key"),
        ({"push": {"provider": "sms", "token": "x"}}, "push.provider"),
        ({"push": {"provider": "fcm"}}, "push.token"),
        ({"push": {"provider": "fcm", "token": 12}}, "push.token"),
        ({"push": {"provider": "none", "token": "x"}}, "push.token"),
        ({"push": {"provider": "webpush", "token": "not json"}}, "push.token"),
        ({"push": {"provider": "webpush", "token": '{"endpoint": "ftp://x", "keys": {}}'}}, "push.token"),
        ({"push": "fcm"}, "push"),
    ],
)
def test_malformed_bodies_are_validation_errors(api, code, overrides, field):
    response = api.post(URL, body(Phone(), code, **overrides), format="json")
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in problem["errors"]


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"x"', b"{", b"\xff\xfe"])
def test_non_object_bodies(api, raw):
    response = api.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_missing_push_means_none(api, code):
    data = body(Phone(), code)
    del data["push"]
    response = api.post(URL, data, format="json")
    assert response.status_code == 201
    assert Device.objects.get().push_provider == "none"


def _subscription(endpoint: str = "https://push.example/send/abc") -> str:
    import json

    p256dh = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    point = b"\x04" + p256dh.x.to_bytes(32, "big") + p256dh.y.to_bytes(32, "big")
    keys = {"p256dh": base64.urlsafe_b64encode(point).decode().rstrip("="), "auth": base64.urlsafe_b64encode(b"a" * 16).decode()}
    return json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": keys})


def test_webpush_subscription_is_accepted(api, code):
    response = api.post(
        URL, body(Phone(), code, platform="web", push={"provider": "webpush", "token": _subscription()}), format="json"
    )
    assert response.status_code == 201, response.content
    assert Device.objects.get().push_provider == "webpush"


def test_webpush_subscription_over_plain_http_is_refused(api, code):
    token = _subscription("http://push.example/send/abc")
    response = api.post(URL, body(Phone(), code, push={"provider": "webpush", "token": token}), format="json")
    assert response.status_code == 400 and "push.token" in response.json()["errors"]


@pytest.mark.parametrize("token", ["[" * 2000 + "]" * 2000, '{"a":' * 1500 + "1" + "}" * 1500, "[]", "not json"])
def test_a_push_subscription_that_is_not_a_json_object_is_refused(api, code, token):
    """Nested too deeply for the decoder included: 400, never a 500."""
    response = api.post(URL, body(Phone(), code, push={"provider": "webpush", "token": token}), format="json")
    assert response.status_code == 400 and "push.token" in response.json()["errors"]
    assert not Device.objects.exists()


def test_get_is_not_allowed_on_the_collection(api):
    response = api.get(URL)
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"


# --- brute force -----------------------------------------------------------------------------------


@override_settings(NEMID_REGISTRATION_FAILURES_PER_ADDRESS=3, NEMID_REGISTRATION_FAILURES_PER_CODE=100)
def test_failed_registrations_are_limited_per_address(api, code):
    for index in range(3):
        guess = f"AAAA-BBBB-CCCC-{index:04d}"
        assert api.post(URL, body(Phone(), guess), format="json").json()["code"] == "invalid_activation_code"
    response = api.post(URL, body(Phone(), code), format="json")  # even the right code, from this address
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert int(response["Retry-After"]) > 0
    other = APIClient(REMOTE_ADDR="10.0.0.9")
    assert other.post(URL, body(Phone(), code), format="json").status_code == 201


@override_settings(NEMID_REGISTRATION_FAILURES_PER_ADDRESS=100, NEMID_REGISTRATION_FAILURES_PER_CODE=2)
def test_failed_registrations_are_limited_per_code(api, code):
    for address in ("10.0.0.1", "10.0.0.2"):
        client = APIClient(REMOTE_ADDR=address)
        assert (
            client.post(URL, body(Phone(), code, proof=Phone().registration_proof(code)), format="json").json()["code"]
            == "invalid_proof"
        )
    response = APIClient(REMOTE_ADDR="10.0.0.3").post(URL, body(Phone(), code.lower()), format="json")
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"


@override_settings(NEMID_REGISTRATION_FAILURES_PER_ADDRESS=2)
def test_default_per_address_limit_counts_only_failures(api, citizen):
    for _ in range(3):
        code, _ = activation_code_issue(citizen=CitizenFactory(), actor="test")
        assert api.post(URL, body(Phone(), code), format="json").status_code == 201


@override_settings(NEMID_REGISTRATION_FAILURES_PER_ADDRESS=1)
def test_limiter_fails_open_when_the_cache_is_unreachable(api, code, monkeypatch, caplog):
    class Broken:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
                raise ConnectionError("cache down")

            return fail

    monkeypatch.setattr("devices.registration_limits.cache", Broken())
    for _ in range(3):
        assert api.post(URL, body(Phone(), "AAAA-BBBB-CCCC-DDDD"), format="json").json()["code"] == "invalid_activation_code"
    assert api.post(URL, body(Phone(), code), format="json").status_code == 201
    assert "cache unreachable" in caplog.text


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_registration_and_device_tokens_work_while_redis_is_down(api, code, caplog):
    """A Redis cache that refuses connections: the limiter fails open, jti replay moves to the database."""
    dead = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{_free_port()}/0"}
    with override_settings(CACHES={"default": dead}):
        phone = Phone()
        response = api.post(URL, body(phone, code), format="json")
        assert response.status_code == 201, response.content
        phone.device_id = response.json()["device_id"]
        headers = phone.auth("GET", "/api/v1/device")
        assert api.get("/api/v1/device", **headers).status_code == 200
        assert api.get("/api/v1/device", **headers).status_code == 401  # replay still caught
    assert "cache unreachable" in caplog.text


# --- concurrency -------------------------------------------------------------------------------------


def _race(code: str, count: int) -> list[int]:
    bodies = [body(Phone(), code) for _ in range(count)]
    return at_once(lambda data: APIClient().post(URL, data, format="json").status_code, bodies)


@pytest.mark.django_db(transaction=True)
def test_one_code_two_concurrent_registrations_one_wins():
    citizen = CitizenFactory()
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    results = _race(code, 4)
    assert sorted(results) == [201, 400, 400, 400]
    assert Device.objects.filter(citizen=citizen).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_respect_the_device_limit_on_postgres(settings):
    settings.NEMID_MAX_ACTIVE_DEVICES = 1
    citizen = CitizenFactory()
    codes = []
    for _ in range(3):
        codes.append(activation_code_issue(citizen=citizen, actor="test")[0])
        # keep every code usable: undo the supersession for this test
        ActivationCode.objects.filter(citizen=citizen).update(
            expires_at=ActivationCode.objects.first().created_at + datetime.timedelta(days=1)
        )  # type: ignore[union-attr]
    results = at_once(lambda code: APIClient().post(URL, body(Phone(), code), format="json").status_code, codes)
    assert sorted(results) == [201, 409, 409]
    assert Device.objects.filter(citizen=citizen, status="active").count() == 1


def test_an_unknown_platform_is_not_echoed_back(api, citizen, code):
    huge = "x" * 50_000  # long, yet under the body limit
    response = api.post(URL, body(Phone(), code, platform=huge), format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert response.json()["errors"]["platform"] == ["One of: android, ios, web, other."]
    assert len(response.content) < 1000
    assert not Device.objects.exists()


def test_a_proof_nested_too_deeply_is_invalid_proof(api, citizen, code):
    phone = Phone()
    deep_header = f"{crypto.b64url_encode(b'[' * 5000)}.e30.c2ln"
    deep_payload = jwt.api_jws.PyJWS().encode(
        b"[" * 5000, phone.private_key, algorithm="ES256", headers={"typ": "device-registration+jwt"}
    )
    for proof in (deep_header, deep_payload):
        response = api.post(URL, body(phone, code, proof=proof), format="json")
        assert response.status_code == 400 and response.json()["code"] == "invalid_proof", response.content
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "x",
    [bytes(32), bytes([1]) + bytes(31), ((2**255 - 19) - 1).to_bytes(32, "little")],
    ids=["order-4", "identity", "order-2"],
)
def test_small_order_ed25519_keys_are_refused(api, citizen, code, x):
    # Under a small-order key the signature R = that point, S = 0 verifies for any message, so this
    # "proof" needs no private key at all; the device it registered could be impersonated by anyone.
    header = crypto.b64url_encode(json.dumps({"alg": "EdDSA", "typ": "device-registration+jwt"}).encode())
    payload = crypto.b64url_encode(json.dumps({"activation_code": code, "iat": int(time.time())}).encode())
    forged = f"{header}.{payload}.{crypto.b64url_encode(x + bytes(32))}"
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": crypto.b64url_encode(x)}
    response = api.post(URL, body(Phone(), code, public_key=jwk, proof=forged), format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_public_key", response.content
    assert not Device.objects.exists()

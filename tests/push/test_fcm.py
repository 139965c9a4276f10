"""FCM HTTP v1 against a local HTTP server playing both Google's token endpoint and FCM."""

from __future__ import annotations

import json
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devices.push import PushResult, provider_for
from devices.push.base import NoopProvider
from tests.realtime.helpers import Received, Receiver, Reply

FORBIDDEN_IN_PAYLOAD = ("149.95", "Webshop", "Order 10023", "amount", "payee", "binding")


@pytest.fixture(scope="module")
def rsa_key():  # type: ignore[no-untyped-def]
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def service_account(tmp_path, rsa_key):  # type: ignore[no-untyped-def]
    key = rsa_key
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    account = {
        "type": "service_account",
        "project_id": "nemid-test",
        "client_email": "push@nemid-test.iam.gserviceaccount.com",
        "private_key": pem,
    }
    return account, key.public_key(), tmp_path


def _fcm(service_account, receiver: Receiver, settings):  # type: ignore[no-untyped-def]
    account, _, tmp_path = service_account
    account = {**account, "token_uri": receiver.url + "/token"}
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(account))
    settings.NEMID_FCM_SERVICE_ACCOUNT_FILE = str(path)
    settings.NEMID_FCM_BASE_URL = receiver.url
    return provider_for("fcm")


def _google(send_reply: Reply) -> tuple[Receiver, list[str]]:
    issued: list[str] = []

    def respond(received: Received) -> Reply:
        if received.path == "/token":
            issued.append(f"ya29.token-{len(issued)}")
            return Reply(200, body=json.dumps({"access_token": issued[-1], "expires_in": 3599, "token_type": "Bearer"}).encode())
        return send_reply

    return Receiver(responder=respond), issued


def test_without_credentials_fcm_is_a_logging_noop(settings, caplog):
    settings.NEMID_FCM_SERVICE_ACCOUNT_FILE = ""
    provider = provider_for("fcm")
    assert isinstance(provider, NoopProvider)
    with caplog.at_level("INFO"):
        assert provider.send("token", "a-id") is PushResult.DISABLED
    assert "not configured" in caplog.text


def test_fcm_exchanges_a_signed_jwt_and_sends_only_the_approval_id(service_account, settings):
    receiver, issued = _google(Reply(200, body=b'{"name": "projects/nemid-test/messages/1"}'))
    with receiver:
        provider = _fcm(service_account, receiver, settings)
        assert provider.send("device-registration-token", "0b7c0f3e-0000-4000-8000-000000000001") is PushResult.OK
        assert provider.send("device-registration-token", "0b7c0f3e-0000-4000-8000-000000000002") is PushResult.OK
    token_requests = [r for r in receiver.received if r.path == "/token"]
    sends = [r for r in receiver.received if r.path != "/token"]
    assert len(token_requests) == 1  # the access token is cached
    form = urllib.parse.parse_qs(token_requests[0].body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], service_account[1], algorithms=["RS256"], audience=receiver.url + "/token")
    assert claims["iss"] == "push@nemid-test.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["exp"] - claims["iat"] == 3600

    assert [r.path for r in sends] == ["/v1/projects/nemid-test/messages:send"] * 2
    assert sends[0].headers["authorization"] == f"Bearer {issued[0]}"
    message = sends[0].json()["message"]
    assert message["token"] == "device-registration-token"
    assert message["data"] == {"approval_id": "0b7c0f3e-0000-4000-8000-000000000001"}
    assert message["notification"]["body"] == "You have a request to approve"
    for word in FORBIDDEN_IN_PAYLOAD:
        assert word not in sends[0].body.decode()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(404, body=b'{"error": {"code": 404, "status": "NOT_FOUND"}}'), PushResult.UNREGISTERED),
        (
            Reply(
                400,
                body=b'{"error": {"status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}',
            ),
            PushResult.UNREGISTERED,
        ),
        (Reply(400, body=b'{"error": {"status": "INVALID_ARGUMENT"}}'), PushResult.FAILED),
        (Reply(503, body=b"{}"), PushResult.RETRY),
        (Reply(429, body=b"{}"), PushResult.RETRY),
        (Reply(500, body=b"not json"), PushResult.RETRY),
    ],
)
def test_fcm_answers_are_classified(service_account, settings, reply, expected):
    receiver, _ = _google(reply)
    with receiver:
        assert _fcm(service_account, receiver, settings).send("t", "id") is expected


def test_fcm_401_forgets_the_access_token(service_account, settings):
    receiver, issued = _google(Reply(401, body=b"{}"))
    with receiver:
        provider = _fcm(service_account, receiver, settings)
        assert provider.send("t", "id") is PushResult.RETRY
        assert provider.send("t", "id") is PushResult.RETRY
    assert len(issued) == 2


def test_fcm_unreachable_is_retryable(service_account, settings):
    receiver, _ = _google(Reply(200))
    with receiver:
        provider = _fcm(service_account, receiver, settings)
    assert provider.send("t", "id") is PushResult.RETRY  # server gone: connection refused


def test_unreadable_service_account_is_a_noop(settings, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    settings.NEMID_FCM_SERVICE_ACCOUNT_FILE = str(bad)
    assert isinstance(provider_for("fcm"), NoopProvider)

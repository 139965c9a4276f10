"""APNs token-based push, tested over real HTTP/2 (h2c by prior knowledge against a local h2 server;
production uses https with ALPN h2)."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devices.push import PushResult, provider_for
from devices.push.base import NoopProvider
from tests.push.h2server import H2Server
from tests.realtime.helpers import Reply

DEVICE_TOKEN = "a1" * 32


@pytest.fixture
def apns_key(tmp_path, settings):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    settings.NEMID_APNS_KEY_FILE = str(path)
    settings.NEMID_APNS_KEY_ID = "ABC123DEFG"
    settings.NEMID_APNS_TEAM_ID = "TEAM123456"
    settings.NEMID_APNS_TOPIC = "dk.example.nemid"
    return key.public_key()


def test_without_credentials_apns_is_a_noop(settings):
    settings.NEMID_APNS_KEY_FILE = ""
    assert isinstance(provider_for("apns"), NoopProvider)


def test_apns_sends_over_http2_with_a_provider_jwt_and_only_the_approval_id(apns_key, settings):
    with H2Server(Reply(200, body=b"")) as server:
        settings.NEMID_APNS_BASE_URL = server.url
        provider = provider_for("apns")
        assert provider.send(DEVICE_TOKEN, "0b7c0f3e-0000-4000-8000-000000000001") is PushResult.OK
        assert provider_for("apns").send(DEVICE_TOKEN, "0b7c0f3e-0000-4000-8000-000000000002") is PushResult.OK
    assert server.connections == 1  # one long-lived HTTP/2 connection, as Apple asks
    first, second = server.received
    assert first.headers[":method"] == "POST"
    assert first.headers[":path"] == f"/3/device/{DEVICE_TOKEN}"
    assert first.headers["apns-topic"] == "dk.example.nemid"
    assert first.headers["apns-push-type"] == "alert"
    scheme, _, token = first.headers["authorization"].partition(" ")
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "ABC123DEFG", "typ": "JWT"}
    claims = jwt.decode(token, apns_key, algorithms=["ES256"])
    assert claims["iss"] == "TEAM123456" and isinstance(claims["iat"], int)
    assert second.headers["authorization"] == first.headers["authorization"]  # provider token cached
    body = json.loads(first.body)
    assert body == {
        "aps": {"alert": {"title": "NemID", "body": "You have a request to approve"}, "sound": "default"},
        "approval_id": "0b7c0f3e-0000-4000-8000-000000000001",
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(410, body=b'{"reason": "Unregistered", "timestamp": 1764000000000}'), PushResult.UNREGISTERED),
        (Reply(400, body=b'{"reason": "BadDeviceToken"}'), PushResult.UNREGISTERED),
        (Reply(400, body=b'{"reason": "BadTopic"}'), PushResult.FAILED),
        (Reply(403, body=b'{"reason": "ExpiredProviderToken"}'), PushResult.RETRY),
        (Reply(429, body=b'{"reason": "TooManyRequests"}'), PushResult.RETRY),
        (Reply(503, body=b'{"reason": "ServiceUnavailable"}'), PushResult.RETRY),
    ],
)
def test_apns_answers_are_classified(apns_key, settings, reply, expected):
    with H2Server(reply) as server:
        settings.NEMID_APNS_BASE_URL = server.url
        assert provider_for("apns").send(DEVICE_TOKEN, "id") is expected


def test_apns_expired_provider_token_is_replaced(apns_key, settings):
    from devices.push import apns

    with H2Server(Reply(403, body=b'{"reason": "ExpiredProviderToken"}'), Reply(200, body=b"")) as server:
        settings.NEMID_APNS_BASE_URL = server.url
        provider = provider_for("apns")
        apns._tokens[(provider.team_id, provider.key_id)] = ("stale", 0.0 + __import__("time").time())  # type: ignore[attr-defined]
        assert provider.send(DEVICE_TOKEN, "id") is PushResult.RETRY
        assert provider.send(DEVICE_TOKEN, "id") is PushResult.OK
    assert server.received[0].headers["authorization"] == "bearer stale"
    assert server.received[1].headers["authorization"] != "bearer stale"


def test_apns_device_token_cannot_change_the_path(apns_key, settings):
    with H2Server(Reply(200, body=b"")) as server:
        settings.NEMID_APNS_BASE_URL = server.url
        provider_for("apns").send("../../other?x=1", "id")
    assert server.received[0].headers[":path"] == "/3/device/..%2F..%2Fother%3Fx%3D1"


def test_apns_unreachable_is_retryable(apns_key, settings):
    with H2Server() as server:
        settings.NEMID_APNS_BASE_URL = server.url
    assert provider_for("apns").send(DEVICE_TOKEN, "id") is PushResult.RETRY

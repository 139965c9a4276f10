"""Web Push with VAPID against a local push service; the test decrypts the aes128gcm body as the
browser would."""

from __future__ import annotations

import base64
import json
import os

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devices.push import PushResult, provider_for
from devices.push.base import NoopProvider
from tests.realtime.helpers import Receiver, Reply


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def vapid(tmp_path, settings):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "vapid.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    settings.NEMID_VAPID_PRIVATE_KEY_FILE = str(path)
    settings.NEMID_VAPID_SUBJECT = "mailto:ops@example.dk"
    return key.public_key()


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    """The browser side of a subscription: its ECDH key and auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key, auth, {"p256dh": _b64(public), "auth": _b64(auth)}


def _subscription(endpoint: str, keys: dict[str, str]) -> str:
    return json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": keys})


def test_without_a_vapid_key_webpush_is_a_noop(settings):
    settings.NEMID_VAPID_PRIVATE_KEY_FILE = ""
    assert isinstance(provider_for("webpush"), NoopProvider)


def test_webpush_is_vapid_signed_and_carries_only_the_approval_id(vapid, browser):
    key, auth, keys = browser
    with Receiver(Reply(201, body=b"")) as service:
        result = provider_for("webpush").send(
            _subscription(service.url + "/push/v2/abc", keys), "0b7c0f3e-0000-4000-8000-000000000001"
        )
    assert result is PushResult.OK
    request = service.received[0]
    assert request.path == "/push/v2/abc"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert int(request.headers["ttl"]) > 0
    # VAPID (RFC 8292): Authorization: vapid t=<JWT>, k=<public key>
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    vapid_public = vapid.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert base64.urlsafe_b64decode(fields["k"] + "==") == vapid_public
    claims = jwt.decode(fields["t"], vapid, algorithms=["ES256"], audience=service.url)
    assert claims["sub"] == "mailto:ops@example.dk"
    # decrypt as the browser does (RFC 8291)
    content = json.loads(http_ece.decrypt(request.body, private_key=key, auth_secret=auth, version="aes128gcm"))
    assert content == {
        "approval_id": "0b7c0f3e-0000-4000-8000-000000000001",
        "title": "NemID",
        "body": "You have a request to approve",
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, PushResult.UNREGISTERED),
        (410, PushResult.UNREGISTERED),
        (429, PushResult.RETRY),
        (503, PushResult.RETRY),
        (400, PushResult.FAILED),
    ],
)
def test_webpush_answers_are_classified(vapid, browser, status, expected):
    with Receiver(Reply(status, body=b"")) as service:
        assert provider_for("webpush").send(_subscription(service.url + "/push/x", browser[2]), "id") is expected


@pytest.mark.parametrize(
    "token",
    [
        "not json",
        "[]",
        json.dumps({"endpoint": "https://push.example/x"}),  # no keys
        json.dumps({"endpoint": 5, "keys": {"p256dh": "a", "auth": "b"}}),
        json.dumps({"endpoint": "http://127.0.0.2/internal", "keys": {"p256dh": "a", "auth": "b"}}),  # not https
        json.dumps({"endpoint": "file:///etc/passwd", "keys": {"p256dh": "a", "auth": "b"}}),
    ],
)
def test_webpush_refuses_malformed_or_non_https_subscriptions(vapid, token):
    assert provider_for("webpush").send(token, "id") is PushResult.FAILED


def test_webpush_unreachable_is_retryable(vapid, browser):
    with Receiver() as service:
        endpoint = service.url + "/push/x"
    assert provider_for("webpush").send(_subscription(endpoint, browser[2]), "id") is PushResult.RETRY

"""The outbound rule (nemid_app_backend.outbound): refusal before any connection, the checked
address is the one connected to, no redirects, and the same rule for webhooks, Web Push and the
URLs relying parties and devices give us.

No test here connects anywhere but 127.0.0.1: `connects` records every socket connect and lets
only 127.0.0.1 through, names resolve through the suite's fake resolver, and refused addresses are
loopback addresses outside the development allowance (127.0.0.2, ::1) or made-up names.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import socket
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from devices.push import PushResult, provider_for
from nemid_app_backend.exceptions import ValidationError
from nemid_app_backend.outbound import (
    DestinationRefused,
    GuardedTransport,
    address_refusal,
    destination_check,
    validate_outbound_url,
)
from relying_parties.services import relying_party_create, relying_party_update
from tests.approvals.conftest import create, payment_body
from tests.factories import CitizenFactory, RelyingPartyFactory
from tests.realtime.helpers import Receiver, Reply, make_approval
from webhooks.models import WebhookAttempt, WebhookEvent
from webhooks.services import webhook_deliver, webhook_event_create


@pytest.fixture
def connects(monkeypatch):  # type: ignore[no-untyped-def]
    """Every socket connect attempted during the test, as (host, port); only 127.0.0.1 goes through."""
    attempts: list[tuple[str, int]] = []
    real_connect = socket.socket.connect

    def connect(sock, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple):
            attempts.append((str(address[0]), int(address[1])))
            if address[0] != "127.0.0.1":
                raise ConnectionRefusedError(f"test: no connection to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


# --- the address rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.2", "::1", "0.0.0.0", "::", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
        "fe80::1", "fc00::1", "fd12:3456::1", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255",
        "100.64.0.1", "192.0.2.1", "2001:db8::1", "::ffff:127.0.0.2", "::ffff:10.0.0.1", "64:ff9b::a00:1",
        "2002:a00:1::1",
    ],
)  # fmt: skip
def test_non_global_addresses_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_global_unicast_addresses_pass(address):
    # Pure computation on address objects: nothing here is ever connected to.
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_a_name_with_any_refused_address_is_refused(resolver):
    resolver.names["mixed.test"] = ["2001:4860:4860::8888", "fd00::1"]
    with pytest.raises(DestinationRefused, match="unique-local"):
        destination_check("mixed.test", 443)


def test_an_unresolvable_name_is_refused_at_delivery():
    with pytest.raises(DestinationRefused, match="does not resolve"):
        destination_check("nowhere.test", 443)


# --- URLs given to us: validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.2/hooks",
        "https://[::1]/hooks",
        "https://[::1]:8443/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "https://intranet.test/hooks",  # the fake resolver answers a private address
        "https://metadata.test/latest",  # ... a link-local one
        "https://v6.test/hooks",  # ... loopback IPv6
    ],
)
def test_urls_that_are_or_resolve_to_internal_addresses_are_validation_errors(url, resolver, connects):
    resolver.names.update({"intranet.test": ["10.20.30.40"], "metadata.test": ["169.254.169.254"], "v6.test": ["::1"]})
    with pytest.raises(ValidationError) as error:
        validate_outbound_url(url, field="callback_url")
    assert "callback_url" in error.value.extra["errors"]
    assert connects == []


def test_plain_http_outside_the_allowance_is_a_validation_error():
    with pytest.raises(ValidationError):
        validate_outbound_url("http://127.0.0.2:8000/hooks", field="callback_url")


def test_the_development_allowance_is_the_only_way_to_a_local_host(settings, connects):
    assert validate_outbound_url("http://127.0.0.1:8001/hook", field="f") == "http://127.0.0.1:8001/hook"
    assert validate_outbound_url("https://localhost/hook", field="f") == "https://localhost/hook"
    settings.NEMID_WEBHOOK_HTTP_HOSTS = []
    for url in ("https://127.0.0.1:8001/hook", "https://localhost/hook"):
        with pytest.raises(ValidationError):
            validate_outbound_url(url, field="f")
    assert connects == []


def test_a_name_that_does_not_resolve_yet_is_accepted_and_checked_again_on_delivery():
    assert validate_outbound_url("https://shop.example/hooks", field="f") == "https://shop.example/hooks"


@pytest.mark.django_db
def test_approval_callback_url_resolving_to_a_private_address_is_400(rp_api, citizen, device, resolver, connects):
    resolver.names["intranet.test"] = ["192.168.0.10"]
    response = create(rp_api, payment_body(citizen, callback_url="https://intranet.test/hooks"))
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert "callback_url" in response.json()["errors"]
    response = create(rp_api, payment_body(citizen, callback_url="https://[::1]/hooks"))
    assert response.status_code == 400 and "callback_url" in response.json()["errors"]
    assert connects == []


@pytest.mark.django_db
def test_relying_party_default_callback_url_follows_the_rule(resolver):
    resolver.names["intranet.test"] = ["10.0.0.7"]
    with pytest.raises(ValidationError) as error:
        relying_party_create(name="Shop", callback_url="https://intranet.test/hooks", actor="t")
    assert "callback_url" in error.value.extra["errors"]
    rp = RelyingPartyFactory()
    with pytest.raises(ValidationError):
        relying_party_update(relying_party=rp, actor="t", callback_url="https://127.0.0.2/hooks")


# --- delivery: refused before any connection --------------------------------------------------------


def _event(url: str) -> WebhookEvent:
    """An outbox row stored directly, as if its host's DNS answer had changed since validation."""
    rp: Any = RelyingPartyFactory()
    approval = make_approval(rp=rp, citizen=CitizenFactory(), status="approved", decided_at=timezone.now())
    return webhook_event_create(relying_party=rp, event_type="approval.approved", url=url, data={}, object_id=str(approval.id))


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["https://127.0.0.2/hooks", "https://[::1]:8443/hooks", "https://rebound.test/hooks"])
def test_webhook_delivery_to_an_internal_address_is_refused_without_connecting(url, resolver, connects):
    resolver.names["rebound.test"] = ["127.0.0.2"]
    event = _event(url)
    outcome = webhook_deliver(event_id=event.pk)
    assert outcome.status == "failed"
    attempt = WebhookAttempt.objects.get(event=event)
    assert attempt.status_code is None and attempt.error.startswith("refused:")
    assert connects == []


@pytest.mark.django_db
def test_webhook_delivery_connects_to_the_checked_address_with_one_lookup(settings, resolver, connects, monkeypatch):
    """DNS rebinding: the name resolves to the receiver the first time and to an address nothing
    listens on afterwards. Delivery looks it up once, connects to that answer and keeps the name
    in the Host header. (Every resolver in the process is the fake here, so a second look-up by
    the HTTP library would be counted, and would go to 127.0.0.2 and fail.)"""
    settings.NEMID_WEBHOOK_HTTP_HOSTS = ["hooks.test"]
    answers = iter([["127.0.0.1"]])

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "hooks.test":
            resolver.names["hooks.test"] = next(answers, ["127.0.0.2"])
        return resolver(host, port, *args, **kwargs)

    from nemid_app_backend import outbound

    monkeypatch.setattr(outbound, "_getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with Receiver(Reply(204)) as receiver:
        event = _event(f"http://hooks.test:{receiver.port}/hooks")
        assert webhook_deliver(event_id=event.pk).status == "delivered"
    assert resolver.calls.count("hooks.test") == 1
    assert receiver.received[0].headers["host"] == f"hooks.test:{receiver.port}"
    assert connects == [("127.0.0.1", receiver.port)]


def test_https_keeps_the_name_for_sni_and_certificate_checks(settings, resolver, monkeypatch):
    settings.NEMID_WEBHOOK_HTTP_HOSTS = ["tls.test"]
    resolver.names["tls.test"] = ["127.0.0.1"]
    seen: list[httpx.Request] = []

    def handle_request(self, request):  # type: ignore[no-untyped-def]
        seen.append(request)
        return httpx.Response(204)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    with httpx.Client(transport=GuardedTransport()) as client:
        client.post("https://tls.test:8443/hooks", content=b"{}")
    (request,) = seen
    assert request.url.host == "127.0.0.1" and request.url.port == 8443
    assert request.headers["host"] == "tls.test:8443"
    assert request.extensions["sni_hostname"] == "tls.test"


def test_a_redirect_is_an_answer_not_an_instruction(connects):
    with Receiver(Reply(200)) as target, Receiver(Reply(307, headers={"location": target.url + "/x"})) as hop:
        from nemid_app_backend.outbound import outbound_client

        with outbound_client(timeout=5) as client:
            response = client.post(hop.url + "/hooks", content=b"{}")
    assert response.status_code == 307
    assert target.received == []


# --- Web Push ----------------------------------------------------------------------------------


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


def _subscription(endpoint: str) -> str:
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return json.dumps({"endpoint": endpoint, "keys": {"p256dh": _b64(public), "auth": _b64(os.urandom(16))}})


@pytest.mark.parametrize("endpoint", ["https://v6push.test/push/x", "https://127.0.0.2/push/x", "https://push.test/x"])
def test_webpush_to_an_internal_address_is_refused_without_connecting(vapid, resolver, connects, endpoint):
    resolver.names.update({"push.test": ["172.20.0.5"], "v6push.test": ["::1"]})
    assert provider_for("webpush").send(_subscription(endpoint), "id") is PushResult.FAILED
    assert connects == []


def test_webpush_does_not_follow_redirects(vapid):
    with Receiver(Reply(201, body=b"")) as target, Receiver(Reply(307, headers={"location": target.url + "/x"})) as hop:
        result = provider_for("webpush").send(_subscription(hop.url + "/push/x"), "id")
    assert result is PushResult.FAILED
    assert target.received == [] and len(hop.received) == 1


@pytest.mark.django_db
def test_device_push_endpoint_resolving_to_a_private_address_is_a_validation_error(resolver, connects):
    from devices.services import push_settings_clean

    resolver.names["push.test"] = ["10.9.8.7"]
    with pytest.raises(ValidationError) as error:
        push_settings_clean({"provider": "webpush", "token": _subscription("https://push.test/x")})
    assert "push.token" in error.value.extra["errors"]
    assert connects == []

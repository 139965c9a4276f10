"""CIBA end to end over HTTP (docs/contract §10): the ASGI application served by uvicorn, a bank's
backend speaking CIBA with httpx, and a device enrolled and approving with the reference device client
(devices.client), as a phone would. Poll mode and ping mode; the ID token verified with PyJWT against
the JWKS fetched over HTTP, and the device's signed decision against the device's key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from django.conf import settings

from citizens.services import activation_code_issue
from devices.client import Api, Device, public_jwk
from oidc.models import BackchannelRequest
from tests.factories import CitizenFactory
from tests.oidc.conftest import register
from tests.realtime.helpers import Receiver, Reply
from tests.webhooks.conftest import celery_eager  # noqa: F401 - a fixture: deliveries run in this process

CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def phone(live_url: str, tmp_path: Path) -> tuple[Api, Device, Any]:
    citizen: Any = CitizenFactory(name="Jens Hansen")
    code, _ = activation_code_issue(citizen=citizen, actor="e2e")
    api = Api(live_url)
    device = api.enroll(activation_code=code, key_file=tmp_path / "phone.pem", name="Test phone", platform="other")
    return api, device, citizen


def bank(live_url: str, client: Any) -> httpx.Client:
    return httpx.Client(base_url=live_url, auth=(client.client_id, client.secret), timeout=15)


def answer_when_asked(api: Api, device: Device, approval_id: str, decision: str = "approve") -> None:
    view = api.find(device, approval_id)
    api.decide(device, view, decision)


def verify(live_url: str, id_token: str, client_id: str) -> dict[str, Any]:
    keys = {key["kid"]: key for key in httpx.get(live_url + "/.well-known/jwks.json").json()["keys"]}
    key = jwt.PyJWK(keys[jwt.get_unverified_header(id_token)["kid"]])
    return dict(jwt.decode(id_token, key.key, algorithms=["ES256"], audience=client_id, issuer=settings.NEMID_ISSUER))


def test_poll_mode_over_http(live_url, phone):
    api, device, citizen = phone
    client = register(name="Danske Bank", ciba_mode="poll")
    http = bank(live_url, client)
    started = http.post(
        "/oidc/backchannel", data={"scope": "openid profile", "login_hint": citizen.user_id, "binding_message": "Call 4417"}
    )
    assert started.status_code == 200, started.text
    auth_req_id = started.json()["auth_req_id"]
    pending = http.post("/oidc/token", data={"grant_type": CIBA, "auth_req_id": auth_req_id})
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    approval_id = str(BackchannelRequest.objects.get(auth_req_id=auth_req_id).approval_id)
    answer_when_asked(api, device, approval_id)
    # the next poll, after the interval (the server's record of the last poll is moved back, not waited for)
    BackchannelRequest.objects.filter(auth_req_id=auth_req_id).update(last_polled_at=None)
    issued = http.post("/oidc/token", data={"grant_type": CIBA, "auth_req_id": auth_req_id})
    assert issued.status_code == 200, issued.text
    claims = verify(live_url, issued.json()["id_token"], client.client_id)
    assert claims["name"] == "Jens Hansen"
    # the evidence: the phone's own signature over what it showed, checked with the phone's public key
    decision = jwt.decode(claims["nemid_decision"], jwt.PyJWK(public_jwk(device.private_key)).key, algorithms=["ES256"])
    assert decision["binding_message"] == "Call 4417" and decision["decision"] == "approve"
    userinfo = httpx.get(live_url + "/oidc/userinfo", headers={"authorization": f"Bearer {issued.json()['access_token']}"})
    assert userinfo.json()["sub"] == claims["sub"]


@pytest.mark.usefixtures("celery_eager")
def test_ping_mode_over_http(live_url, phone):
    api, device, citizen = phone
    with Receiver(Reply(204)) as receiver:
        client = register(name="Nordea", ciba_mode="ping", ciba_notification_endpoint=receiver.url + "/ciba/notify")
        http = bank(live_url, client)
        started = http.post(
            "/oidc/backchannel",
            data={
                "scope": "openid",
                "login_hint": citizen.user_id,
                "binding_message": "Pay 149.95 DKK",
                "client_notification_token": "notify-me-7Ya",
                "authorization_details": json.dumps(
                    [{"type": "payment", "amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}]
                ),
            },
        )
        assert started.status_code == 200, started.text
        auth_req_id = started.json()["auth_req_id"]
        approval_id = str(BackchannelRequest.objects.get(auth_req_id=auth_req_id).approval_id)
        view = api.find(device, approval_id)
        assert view["type"] == "payment" and view["payment"]["amount"] == "149.95"
        api.decide(device, view, "approve")
        assert receiver.arrived.wait(timeout=15), "no ping"
    ping = receiver.received[0]
    assert ping.path == "/ciba/notify" and ping.headers["authorization"] == "Bearer notify-me-7Ya"
    assert ping.json() == {"auth_req_id": auth_req_id}
    issued = http.post("/oidc/token", data={"grant_type": CIBA, "auth_req_id": auth_req_id})
    assert issued.status_code == 200, issued.text
    assert issued.json()["authorization_details"][0]["amount"] == "149.95"
    assert verify(live_url, issued.json()["id_token"], client.client_id)["nemid_decision"]

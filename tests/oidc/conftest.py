"""Helpers for the OpenID provider's tests: a registered client, PKCE, the hosted pages driven with
Django's test client, and a phone answering the code app request as the app would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from oidc.services import relying_party_register
from tests.approvals.conftest import device_view_of, post_decision
from tests.webhooks.conftest import celery_eager  # noqa: F401 - a fixture of the ping tests

REDIRECT_URI = "https://rp.example/callback"
LOOPBACK_REDIRECT_URI = "http://127.0.0.1/callback"


@dataclass
class RegisteredClient:
    client_id: str
    secret: str
    relying_party: Any
    client: Any
    api_key: str
    redirect_uri: str = REDIRECT_URI

    def basic(self) -> dict[str, Any]:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def register(**kwargs: Any) -> RegisteredClient:
    kwargs.setdefault("name", "borger.dk")
    kwargs.setdefault("redirect_uris", [REDIRECT_URI, LOOPBACK_REDIRECT_URI])
    kwargs.setdefault("actor", "test")
    registration = relying_party_register(**kwargs)
    return RegisteredClient(
        client_id=registration.client.client_id,
        secret=registration.client_secret,
        relying_party=registration.relying_party,
        client=registration.client,
        api_key=registration.api_key,
    )


@pytest.fixture
def oidc_client(db) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class AuthRequest:
    client: RegisteredClient
    verifier: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    params: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        self.verifier, challenge = pkce()
        query = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.client.redirect_uri,
            "scope": "openid profile",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **self.params,
        }
        query = {key: value for key, value in query.items() if value is not None}
        return "/oidc/authorize?" + urlencode(query)


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def login_path(response: Any) -> str:
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    assert location.startswith("/oidc/login/"), location
    return location


def approve_in_app(device: Any, *, code: str | None = None, decision: str = "approve") -> str:
    """The citizen's phone: find the pending login request, type the number, sign, send."""
    from tests.approvals.conftest import device_views

    (view,) = [view for view in device_views(device) if view["type"] == "login"]
    from approvals.models import ApprovalRequest

    approval = ApprovalRequest.objects.get(id=view["id"])
    signed = device.phone.sign_decision(
        device_view_of(device, view["id"]), decision, verification_code=code if code is not None else approval.verification_code
    )
    response = post_decision(device, view["id"], signed)
    assert response.status_code in (200, 422), response.content
    return str(view["id"])


def through_pages_with_app(browser: BrowserClient, start: Any, citizen: Any, device: Any, *, consent: bool | None = None) -> Any:
    """From the authorization request to the redirect back to the client, with the code app.
    consent: True/False when the consent page must/must not come; None when either may."""
    response = start if not isinstance(start, str) else browser.get(start)
    page = login_path(response)
    assert browser.post(page + "/user", {"user_id": citizen.user_id}).status_code == 302
    response = browser.post(page + "/method", {"method": "app"})
    assert response.status_code == 302, response.content[:1000]
    assert browser.get(page).status_code == 200
    approve_in_app(device)
    response = browser.post(page + "/app")
    assert response.status_code == 302
    response = browser.get(page)
    asked = response.status_code == 200 and b'id="allow"' in response.content
    assert consent is None or consent == asked, response.content[:2000]
    if asked:
        response = browser.post(page + "/consent", {"allow": "yes"})
    return response


def redeem(client: RegisteredClient, code: str, verifier: str, **extra: str) -> Any:
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": verifier,
        **extra,
    }
    return APIClient().post("/oidc/token", urlencode(body), content_type="application/x-www-form-urlencoded", **client.basic())


def jwks_keys() -> dict[str, Any]:
    response = APIClient().get("/.well-known/jwks.json")
    return {key["kid"]: key for key in response.json()["keys"]}


def verify_id_token(token: str, client: RegisteredClient, **options: Any) -> dict[str, Any]:
    """As a relying party would: against the published JWKS, by kid, ES256 only."""
    from django.conf import settings

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    key = jwt.PyJWK(jwks_keys()[header["kid"]])
    return dict(
        jwt.decode(token, key.key, algorithms=["ES256"], audience=client.client_id, issuer=settings.NEMID_ISSUER, **options)
    )

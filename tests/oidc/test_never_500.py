"""Bad input to the provider's endpoints is answered, never a 500, and changes nothing (docs/contract §10)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client as BrowserClient

from approvals.models import ApprovalRequest
from oidc.models import AccessToken, BackchannelRequest, Grant, LoginTransaction
from tests.oidc.conftest import RegisteredClient, query_of, register

pytestmark = pytest.mark.django_db

ODD = ["", "%00", "%ff%fe", "x" * 5000, "\u202e", "%E2%80%AE", "null", "[]", "{}", "ö"]


@pytest.mark.parametrize("value", ODD)
def test_odd_values_everywhere(oidc_client, citizen, device, value):
    browser = BrowserClient()
    for name in (
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "prompt",
        "max_age",
        "acr_values",
        "login_hint",
        "ui_locales",
        "id_token_hint",
        "claims",
    ):
        query = (
            f"response_type=code&client_id={oidc_client.client_id}&redirect_uri=https%3A%2F%2Frp.example%2Fcallback"
            f"&scope=openid&code_challenge={'a' * 43}&code_challenge_method=S256&{name}={value}"
        )
        response = browser.get("/oidc/authorize?" + query)
        assert response.status_code in (200, 302, 400), (name, value, response.status_code)
    for path in ("/oidc/token", "/oidc/backchannel"):
        for body in (
            f"grant_type={value}",
            f"auth_req_id={value}&grant_type=urn:openid:params:grant-type:ciba",
            f"scope={value}&login_hint={value}",
            value,
        ):
            response = browser.post(path, body, content_type="application/x-www-form-urlencoded", **oidc_client.basic())
            assert response.status_code in (400, 401, 403, 429), (path, body[:40], response.status_code)
            assert "error" in response.json()
    for path in (
        "/oidc/userinfo",
        f"/oidc/logout?id_token_hint={value}",
        f"/oidc/logout?client_id={value}",
        f"/oidc/logout?post_logout_redirect_uri={value}",
    ):
        assert browser.get(path, HTTP_AUTHORIZATION=f"Bearer {value}").status_code < 500, path
    assert not ApprovalRequest.objects.exists() and not BackchannelRequest.objects.exists()
    assert not Grant.objects.exists() and not AccessToken.objects.exists()


def test_odd_login_pages(oidc_client):
    browser = BrowserClient()
    assert browser.get("/oidc/login/not-a-uuid").status_code == 404
    assert browser.get("/oidc/login/00000000-0000-0000-0000-000000000000").status_code == 404
    page = browser.get(
        f"/oidc/authorize?response_type=code&client_id={oidc_client.client_id}&redirect_uri=https%3A%2F%2Frp.example%2Fcallback"
        f"&scope=openid&code_challenge={'a' * 43}&code_challenge_method=S256"
    )["Location"]
    for step, data in (
        ("/user", {"user_id": "x" * 1000}),
        ("/method", {"method": "teleport"}),
        ("/code", {"code": "1"}),
        ("/password", {"password": "p"}),
        ("/app", {}),
        ("/consent", {"allow": "yes"}),
    ):
        response = browser.post(page + step, data)
        assert response.status_code in (200, 302, 400), (step, response.status_code)
    assert browser.get(page + "/status").status_code == 404
    assert LoginTransaction.objects.count() == 1 and not Grant.objects.exists()


# Digits that str.isdigit() accepts and int() refuses ("²"), or that int() reads but are not the
# ASCII digits the contract means (Arabic-Indic, full-width).
NON_ASCII_DIGITS = ["1%C2%B20", "%C2%B2", "%D9%A3%D9%A0", "%EF%BC%96%EF%BC%90"]


@pytest.fixture
def ciba_client(db) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register(name="Danske Bank", ciba_mode="poll", allowed_types=["login", "payment"])


def post_form(client: RegisteredClient, path: str, body: str) -> Any:
    return BrowserClient().post(path, body, content_type="application/x-www-form-urlencoded", **client.basic())


def assert_invalid(response: Any, error: str = "invalid_request") -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response.json()["error"] == error, response.json()


@pytest.mark.parametrize("value", NON_ASCII_DIGITS)
def test_non_ascii_digits_are_invalid_request(oidc_client, ciba_client, citizen, device, value):
    state = "s-42"
    response = BrowserClient().get(
        f"/oidc/authorize?response_type=code&client_id={oidc_client.client_id}&redirect_uri=https%3A%2F%2Frp.example%2Fcallback"
        f"&scope=openid&code_challenge={'a' * 43}&code_challenge_method=S256&state={state}&max_age={value}"
    )
    assert response.status_code == 302, (response.status_code, response.content[:300])
    params = query_of(response["Location"])
    assert response["Location"].startswith(oidc_client.redirect_uri + "?")
    assert params["error"] == "invalid_request" and params["state"] == state, params
    body = f"scope=openid&binding_message=Log+in&login_hint={citizen.user_id}&requested_expiry={value}"
    assert_invalid(post_form(ciba_client, "/oidc/backchannel", body))
    assert not ApprovalRequest.objects.exists() and not LoginTransaction.objects.exists()


@pytest.mark.parametrize("details", ["[" * 5000, "[" * 5000 + "]" * 5000, '[{"a":' * 3000])
def test_deeply_nested_authorization_details_are_refused(ciba_client, citizen, device, details):
    body = urlencode(
        {"scope": "openid", "binding_message": "Pay", "login_hint": citizen.user_id, "authorization_details": details}
    )
    assert_invalid(post_form(ciba_client, "/oidc/backchannel", body), "invalid_authorization_details")
    assert not ApprovalRequest.objects.exists() and not BackchannelRequest.objects.exists()


CIBA = "urn:openid:params:grant-type:ciba"
CALLBACK = "https%3A%2F%2Frp.example%2Fcallback"


@pytest.mark.parametrize(
    "body",
    [
        f"grant_type=authorization_code&code=%00&redirect_uri={CALLBACK}&code_verifier={'v' * 43}",
        f"grant_type=authorization_code&code=abc%00def&redirect_uri={CALLBACK}&code_verifier={'v' * 43}",
        f"grant_type=authorization_code&code=abc&redirect_uri={CALLBACK}%00&code_verifier={'v' * 43}",
        f"grant_type=authorization_code&code=abc&redirect_uri={CALLBACK}&code_verifier=%00{'v' * 43}",
        f"grant_type={CIBA}&auth_req_id=%00",
        f"grant_type={CIBA}&auth_req_id=abc%00",
        f"grant_type={CIBA}%00&auth_req_id=abc",
        "grant_type=refresh_token&refresh_token=%00",
        f"grant_type={CIBA}&auth_req_id=abc&%00=x",
    ],
)
def test_nul_at_the_token_endpoint_is_invalid_request(ciba_client, citizen, device, body):
    """PostgreSQL refuses NUL even in a query's parameter: refused before any query, in both modes."""
    assert_invalid(post_form(ciba_client, "/oidc/token", body))
    assert not Grant.objects.exists() and not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "field", ["login_hint", "binding_message", "scope", "client_notification_token", "acr_values", "authorization_details"]
)
def test_nul_at_the_backchannel_endpoint_is_invalid_request(ciba_client, citizen, device, field):
    params = {"scope": "openid", "binding_message": "Log in", "login_hint": citizen.user_id, field: "a\x00b"}
    assert_invalid(post_form(ciba_client, "/oidc/backchannel", urlencode(params)))
    assert not ApprovalRequest.objects.exists() and not BackchannelRequest.objects.exists()


def test_a_nul_inside_authorization_details_json_is_refused(ciba_client, citizen, device):
    """A NUL escaped in the JSON passes the raw-parameter check; the payment rules refuse it."""
    details = '[{"type": "payment", "amount": "1.00", "currency": "DKK", "payee": "a\\u0000b"}]'
    params = {"scope": "openid", "binding_message": "Pay", "login_hint": citizen.user_id, "authorization_details": details}
    assert_invalid(post_form(ciba_client, "/oidc/backchannel", urlencode(params)), "invalid_authorization_details")
    assert not ApprovalRequest.objects.exists()


def test_nul_in_the_hosted_pages_is_answered(oidc_client, citizen, device):
    browser = BrowserClient()
    page = browser.get(
        f"/oidc/authorize?response_type=code&client_id={oidc_client.client_id}&redirect_uri={CALLBACK}"
        f"&scope=openid&code_challenge={'a' * 43}&code_challenge_method=S256"
    )["Location"]
    assert browser.post(page + "/user", {"user_id": "50000\x0000001"}).status_code == 400
    assert browser.post(page + "/user", {"user_id": citizen.user_id}).status_code == 302
    for step, data in (("/method", {"method": "key\x00_card"}), ("/code", {"code": "12\x003456"})):
        response = browser.post(page + step, data)
        assert response.status_code == 400, (step, response.status_code)
    assert not ApprovalRequest.objects.exists() and not Grant.objects.exists()

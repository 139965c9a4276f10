"""Bad input to the provider's endpoints is answered, never a 500, and changes nothing (docs/contract §10)."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient

from approvals.models import ApprovalRequest
from oidc.models import AccessToken, BackchannelRequest, Grant, LoginTransaction

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

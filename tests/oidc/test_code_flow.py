"""CONTRACT §10: discovery and the authorization code flow through the hosted pages."""

from __future__ import annotations

import pytest
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from oidc import assurance
from oidc.models import Consent
from tests.oidc.conftest import AuthRequest, query_of, redeem, through_pages_with_app, verify_id_token

pytestmark = pytest.mark.django_db


def test_discovery_names_this_provider(settings):
    settings.NEMID_ISSUER = "https://id.example.dk"
    body = APIClient().get("/.well-known/openid-configuration").json()
    assert body["issuer"] == "https://id.example.dk"
    assert body["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert "ES256" in body["id_token_signing_alg_values_supported"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert body["backchannel_user_code_parameter_supported"] is False
    assert {"authorization_code", "urn:openid:params:grant-type:ciba"} <= set(body["grant_types_supported"])
    assert body["backchannel_authentication_endpoint"] == "http://testserver/oidc/backchannel"
    assert body["authorization_endpoint"] == "http://testserver/oidc/authorize"
    assert body["token_endpoint"] == "http://testserver/oidc/token"
    assert body["userinfo_endpoint"] == "http://testserver/oidc/userinfo"
    assert body["end_session_endpoint"] == "http://testserver/oidc/logout"
    assert body["acr_values_supported"] == list(assurance.LEVELS)


def test_code_flow_with_the_code_app(oidc_client, citizen, device):
    browser = BrowserClient()
    request = AuthRequest(oidc_client)
    response = through_pages_with_app(browser, request.url(), citizen, device)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(oidc_client.redirect_uri + "?")
    params = query_of(location)
    assert params["state"] == request.state, params
    assert "code" in params, params
    token = redeem(oidc_client, params["code"], request.verifier)
    assert token.status_code == 200, token.content
    body = token.json()
    assert "refresh_token" not in body and body["token_type"] == "Bearer"
    claims = verify_id_token(body["id_token"], oidc_client)
    assert claims["nonce"] == request.nonce
    assert claims["acr"] == assurance.LOW and claims["amr"] == ["pop"]
    assert claims["sub"] not in (citizen.user_id, str(citizen.pk)) and len(claims["sub"]) == 64
    assert claims["name"] == citizen.name and claims["birthdate"] == "1970-01-01"
    assert {"iss", "aud", "exp", "iat", "auth_time"} <= set(claims)
    userinfo = APIClient().get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert userinfo.status_code == 200, userinfo.content
    assert userinfo.json() == {"sub": claims["sub"], "name": citizen.name, "birthdate": "1970-01-01"}
    assert Consent.objects.filter(citizen=citizen).count() == 1


def test_second_login_is_single_sign_on(oidc_client, citizen, device):
    browser = BrowserClient()
    through_pages_with_app(browser, AuthRequest(oidc_client).url(), citizen, device)
    again = AuthRequest(oidc_client)
    response = browser.get(again.url())
    assert response.status_code == 302 and response["Location"].startswith(oidc_client.redirect_uri)
    params = query_of(response["Location"])
    assert redeem(oidc_client, params["code"], again.verifier).status_code == 200

"""docs/contract §10: the authorization request is validated before any page (OIDC Core §3.1.2.2).
An unknown client or an unregistered redirect URI is an error page, never a redirect; every other
error goes back to the registered redirect URI with error and state. Nothing is created by a
refused request."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client as BrowserClient

from oidc.models import Grant, LoginTransaction
from tests.oidc.conftest import AuthRequest, pkce, query_of, register

pytestmark = pytest.mark.django_db


def get(url: str):  # type: ignore[no-untyped-def]
    return BrowserClient().get(url)


def assert_error_page(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.status_code
    assert response["Content-Type"].startswith("text/html")
    assert "Location" not in response
    assert not LoginTransaction.objects.exists()


def assert_redirected_error(response, client, error: str, state: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    assert location.startswith(client.redirect_uri + "?"), location
    params = query_of(location)
    assert params["error"] == error and params["state"] == state, params
    assert not LoginTransaction.objects.exists() and not Grant.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "no-such-client"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "https://rp.example/callback/"},  # not exactly the registered one
        {"redirect_uri": "https://rp.example/callback?x=1"},
        {"redirect_uri": "https://rp.example:8443/callback"},
        {"redirect_uri": "http://rp.example/callback"},
        {"redirect_uri": "https://RP.example.evil/callback"},
        {"redirect_uri": None},
        {"redirect_uri": "https://rp.example/callback#frag"},
    ],
)
def test_unknown_client_or_unregistered_redirect_uri_is_an_error_page(oidc_client, change):
    request = AuthRequest(oidc_client, params=change)
    assert_error_page(get(request.url()))


def test_a_repeated_client_id_or_an_undecodable_query_is_an_error_page(oidc_client):
    url = AuthRequest(oidc_client).url()
    assert_error_page(get(url + "&client_id=" + oidc_client.client_id))
    assert_error_page(get(url + "&nonce=%ZZ"))
    assert_error_page(get("/oidc/authorize"))


def authorization_params(client) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    _, challenge = pkce()
    return [
        ("response_type", "code"),
        ("client_id", client.client_id),
        ("redirect_uri", client.redirect_uri),
        ("scope", "openid"),
        ("state", "s-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]


def send(method: str, params: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    if method == "GET":
        return get("/oidc/authorize?" + urlencode(params))
    return BrowserClient().post("/oidc/authorize", urlencode(params), content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name", ["client_id", "redirect_uri", "response_type", "scope", "state"])
def test_a_repeated_client_id_redirect_uri_response_type_scope_or_state_is_an_error_page(oidc_client, method, name):
    params = authorization_params(oidc_client)
    assert send(method, params).status_code == 302  # the same request without the repetition is fine
    LoginTransaction.objects.all().delete()
    value = dict(params)[name]
    assert_error_page(send(method, [(name, value), *params]))  # even the same value twice
    assert_error_page(send(method, [*params, (name, "x" + value)]))


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name", ["nonce", "code_challenge", "prompt"])
def test_another_repeated_parameter_is_invalid_request(oidc_client, method, name):
    params = authorization_params(oidc_client)
    value = dict(params).get(name, "login")
    response = send(method, [*params, (name, value), (name, value)])
    assert_redirected_error(response, oidc_client, "invalid_request", "s-1")


def test_an_inactive_relying_party_is_an_error_page(oidc_client):
    oidc_client.relying_party.is_active = False
    oidc_client.relying_party.save()
    assert_error_page(get(AuthRequest(oidc_client).url()))


def test_loopback_redirect_uris_accept_any_port(db):
    client = register(redirect_uris=["http://127.0.0.1/callback"])
    client.redirect_uri = "http://127.0.0.1:53127/callback"
    response = get(AuthRequest(client).url())
    assert response.status_code == 302 and response["Location"].startswith("/oidc/login/")
    client.redirect_uri = "http://127.0.0.1:53127/other"
    LoginTransaction.objects.all().delete()
    assert_error_page(get(AuthRequest(client).url()))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid email"}, "invalid_scope"),
        ({"prompt": "select_account"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"acr_values": "urn:example:unknown"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"nonce": "n" * 256}, "invalid_request"),
        ({"id_token_hint": "not-a-token"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/request.jwt"}, "request_uri_not_supported"),
        ({"registration": "{}"}, "registration_not_supported"),
    ],
)
def test_other_errors_redirect_with_error_and_state(oidc_client, change, error):
    request = AuthRequest(oidc_client, params=change)
    assert_redirected_error(get(request.url()), oidc_client, error, request.state)


def test_a_client_not_allowed_logins_is_unauthorized_client(db):
    client = register(allowed_types=["payment"])
    request = AuthRequest(client)
    assert_redirected_error(get(request.url()), client, "unauthorized_client", request.state)


def test_prompt_none_without_a_login_is_login_required(oidc_client):
    request = AuthRequest(oidc_client, params={"prompt": "none"})
    assert_redirected_error(get(request.url()), oidc_client, "login_required", request.state)


def test_authorize_accepts_a_posted_form(oidc_client):
    _, challenge = pkce()
    form = {
        "response_type": "code",
        "client_id": oidc_client.client_id,
        "redirect_uri": oidc_client.redirect_uri,
        "scope": "openid",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = BrowserClient(enforce_csrf_checks=True).post(
        "/oidc/authorize", urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 302 and response["Location"].startswith("/oidc/login/")

"""docs/contract §10: the token endpoint's authorization code grant and its errors, userinfo, ID tokens
after a key rotation, single sign-on, prompt/max_age/login_hint/acr_values, consent and logout."""

from __future__ import annotations

import base64
import datetime
from urllib.parse import urlencode

import jwt
import pytest
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from oidc import assurance
from oidc.models import AccessToken, Consent, Grant
from tests.factories import CitizenFactory, DeviceFactory
from tests.oidc.conftest import (
    AuthRequest,
    login_path,
    query_of,
    redeem,
    register,
    through_pages_with_app,
    verify_id_token,
)

pytestmark = pytest.mark.django_db


def logged_in(oidc_client, citizen, device):  # type: ignore[no-untyped-def]
    """A browser that has logged in once (and consented), with the code of that login."""
    browser = BrowserClient()
    request = AuthRequest(oidc_client)
    response = through_pages_with_app(browser, request.url(), citizen, device)
    return browser, request, query_of(response["Location"])["code"]


def test_code_is_single_use_and_bound_to_verifier_and_redirect_uri(oidc_client, citizen, device):
    _, request, code = logged_in(oidc_client, citizen, device)
    wrong_verifier = redeem(oidc_client, code, "x" * 50)
    assert wrong_verifier.status_code == 400 and wrong_verifier.json()["error"] == "invalid_grant"
    _, request, code = logged_in(oidc_client, citizen, device)
    no_verifier = APIClient().post(
        "/oidc/token",
        urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": oidc_client.redirect_uri}),
        content_type="application/x-www-form-urlencoded",
        **oidc_client.basic(),
    )
    assert no_verifier.json()["error"] == "invalid_request"
    other_uri = redeem(oidc_client, code, request.verifier, redirect_uri="http://127.0.0.1/callback")
    assert other_uri.json()["error"] == "invalid_grant"
    assert redeem(oidc_client, code, request.verifier).status_code == 200
    reused = redeem(oidc_client, code, request.verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_a_repeated_parameter_is_invalid_request_and_spends_nothing(oidc_client, citizen, device):
    """RFC 6749 §3.2: parameters MUST NOT be included more than once. The toolkit keeps the last
    value, so `code=bogus&code=<real>` would otherwise be redeemed."""
    _, request, code = logged_in(oidc_client, citizen, device)
    body = [
        ("grant_type", "authorization_code"),
        ("code", "bogus"),
        ("code", code),
        ("redirect_uri", oidc_client.redirect_uri),
        ("code_verifier", "x" * 43),
        ("code_verifier", request.verifier),
    ]
    repeated = APIClient().post(
        "/oidc/token", urlencode(body), content_type="application/x-www-form-urlencoded", **oidc_client.basic()
    )
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request", repeated.content
    assert not AccessToken.objects.exists()
    for name in ("grant_type", "redirect_uri", "client_id", "client_secret"):
        single = {"grant_type": "authorization_code", "code": code, "redirect_uri": oidc_client.redirect_uri}
        single["code_verifier"] = request.verifier
        again = {"client_id": oidc_client.client_id, "client_secret": oidc_client.secret}.get(name, single.get(name, ""))
        response = APIClient().post(
            "/oidc/token",
            urlencode([*single.items(), (name, again), (name, again)]),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", (name, response.content)
    assert redeem(oidc_client, code, request.verifier).status_code == 200  # the code was not spent


def test_expired_code_is_invalid_grant(oidc_client, citizen, device):
    _, request, code = logged_in(oidc_client, citizen, device)
    Grant.objects.update(expires=timezone.now() - datetime.timedelta(seconds=1))
    assert redeem(oidc_client, code, request.verifier).json()["error"] == "invalid_grant"


def test_another_clients_code_and_bad_client_credentials(oidc_client, citizen, device):
    _, request, code = logged_in(oidc_client, citizen, device)
    other = register(name="skat.dk")
    other.redirect_uri = oidc_client.redirect_uri
    assert redeem(other, code, request.verifier).json()["error"] == "invalid_grant"
    wrong = APIClient().post(
        "/oidc/token",
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": oidc_client.redirect_uri,
                "code_verifier": request.verifier,
            }
        ),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{oidc_client.client_id}:wrong".encode()).decode(),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    # client_secret_post works as well as client_secret_basic
    posted = APIClient().post(
        "/oidc/token",
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": oidc_client.redirect_uri,
                "code_verifier": request.verifier,
                "client_id": oidc_client.client_id,
                "client_secret": oidc_client.secret,
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert posted.status_code == 200, posted.content


@pytest.mark.parametrize(
    "grant_type", ["password", "client_credentials", "refresh_token", "implicit", "urn:ietf:params:oauth:grant-type:device_code"]
)
def test_other_grant_types_are_unsupported(oidc_client, grant_type):
    response = APIClient().post(
        "/oidc/token",
        urlencode({"grant_type": grant_type}),
        content_type="application/x-www-form-urlencoded",
        **oidc_client.basic(),
    )
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_answers_json_to_anything(oidc_client):
    assert APIClient().get("/oidc/token").json()["error"] == "invalid_request"
    as_json = APIClient().post("/oidc/token", {"grant_type": "authorization_code"}, format="json", **oidc_client.basic())
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    garbage = APIClient().post("/oidc/token", b"\xff\xfe=%%%", content_type="application/x-www-form-urlencoded")
    assert garbage.status_code in (400, 401) and "error" in garbage.json()


def test_userinfo_needs_a_valid_bearer_token(oidc_client, citizen, device):
    _, request, code = logged_in(oidc_client, citizen, device)
    access_token = redeem(oidc_client, code, request.verifier).json()["access_token"]
    assert AccessToken.objects.get().token == ""  # stored as a checksum only
    assert AccessToken.objects.get().id_token is not None  # linked to the ID token issued with it
    missing = APIClient().get("/oidc/userinfo")
    assert missing.status_code == 401
    unknown = APIClient().get("/oidc/userinfo", HTTP_AUTHORIZATION="Bearer nope")
    assert unknown.status_code == 401 and 'error="invalid_token"' in unknown["WWW-Authenticate"]
    AccessToken.objects.update(expires=timezone.now() - datetime.timedelta(seconds=1))
    expired = APIClient().get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert expired.status_code == 401


def test_id_tokens_verify_against_the_jwks_after_a_key_rotation(oidc_client, citizen, device):
    _, request, code = logged_in(oidc_client, citizen, device)
    before = redeem(oidc_client, code, request.verifier).json()["id_token"]
    call_command("rotate_signing_key", stdout=open("/dev/null", "w"))
    browser = BrowserClient()
    again = AuthRequest(oidc_client)
    code = query_of(through_pages_with_app(browser, again.url(), citizen, device, consent=False)["Location"])["code"]
    after = redeem(oidc_client, code, again.verifier).json()["id_token"]
    assert jwt.get_unverified_header(before)["kid"] != jwt.get_unverified_header(after)["kid"]
    assert verify_id_token(before, oidc_client)["sub"] == verify_id_token(after, oidc_client)["sub"]


def test_sub_is_pairwise(oidc_client, citizen, device):
    _, request, code = logged_in(oidc_client, citizen, device)
    first = verify_id_token(redeem(oidc_client, code, request.verifier).json()["id_token"], oidc_client)
    other = register(name="sundhed.dk")
    browser = BrowserClient()
    other_request = AuthRequest(other)
    other_code = query_of(through_pages_with_app(browser, other_request.url(), citizen, device)["Location"])["code"]
    second = verify_id_token(redeem(other, other_code, other_request.verifier).json()["id_token"], other)
    assert first["sub"] != second["sub"]
    assert citizen.user_id not in (first["sub"], second["sub"])


def test_single_sign_on_and_the_prompts(oidc_client, citizen, device):
    browser, _, _ = logged_in(oidc_client, citizen, device)
    silent = AuthRequest(oidc_client, params={"prompt": "none"})
    response = browser.get(silent.url())
    assert "code" in query_of(response["Location"])
    login_again = browser.get(AuthRequest(oidc_client, params={"prompt": "login"}).url())
    page = login_path(login_again)
    assert b'name="user_id"' in browser.get(page).content  # asked again from the user ID
    other = register(name="e-boks")
    consent = AuthRequest(other, params={"prompt": "none"})
    response = browser.get(consent.url())
    assert query_of(response["Location"])["error"] == "consent_required"
    ask = browser.get(AuthRequest(oidc_client, params={"prompt": "consent"}).url())
    assert b'id="allow"' in browser.get(login_path(ask)).content


def test_max_age_and_login_hint_bypass_the_session(oidc_client, citizen, device):
    browser, _, _ = logged_in(oidc_client, citizen, device)
    old = browser.session["oidc.sso"]
    session = browser.session
    session["oidc.sso"] = {**old, "auth_time": old["auth_time"] - 120}
    session.save()
    stale = browser.get(AuthRequest(oidc_client, params={"max_age": "60"}).url())
    assert stale["Location"].startswith("/oidc/login/")
    fresh = browser.get(AuthRequest(oidc_client, params={"max_age": "600"}).url())
    assert fresh["Location"].startswith(oidc_client.redirect_uri)
    someone_else = CitizenFactory()
    hinted = browser.get(AuthRequest(oidc_client, params={"login_hint": someone_else.user_id}).url())
    page = login_path(hinted)
    assert someone_else.user_id.encode() in browser.get(page).content
    silent_other = AuthRequest(oidc_client, params={"prompt": "none", "login_hint": someone_else.user_id})
    assert query_of(browser.get(silent_other.url())["Location"])["error"] == "login_required"


def test_acr_values_are_honoured_never_a_weaker_login(oidc_client, citizen, device):
    browser, _, _ = logged_in(oidc_client, citizen, device)  # a Low login (code app)
    substantial = AuthRequest(oidc_client, params={"acr_values": assurance.SUBSTANTIAL, "prompt": "none"})
    assert query_of(browser.get(substantial.url())["Location"])["error"] == "interaction_required"
    asked = AuthRequest(oidc_client, params={"acr_values": assurance.SUBSTANTIAL})
    page = login_path(browser.get(asked.url()))
    content = browser.get(page).content.decode()
    assert 'id="reason"' in content  # this citizen holds no password: the level cannot be reached
    cancelled = browser.post(page + "/cancel")
    params = query_of(cancelled["Location"])
    assert params["error"] == "unmet_authentication_requirements" and params["state"] == asked.state
    assert not Grant.objects.filter(acr=assurance.SUBSTANTIAL).exists()
    low_or_high = AuthRequest(oidc_client, params={"acr_values": f"{assurance.HIGH} {assurance.LOW}"})
    assert browser.get(low_or_high.url())["Location"].startswith(oidc_client.redirect_uri)


def test_declining_consent_or_cancelling_is_access_denied(oidc_client, citizen, device):
    browser = BrowserClient()
    request = AuthRequest(oidc_client)
    response = browser.get(request.url())
    page = login_path(response)
    browser.post(page + "/user", {"user_id": citizen.user_id})
    browser.post(page + "/method", {"method": "app"})
    from tests.oidc.conftest import approve_in_app

    approve_in_app(device)
    browser.post(page + "/app")
    declined = browser.post(page + "/consent", {"allow": "no"})
    params = query_of(declined["Location"])
    assert params["error"] == "access_denied" and params["state"] == request.state
    assert not Consent.objects.exists() and not Grant.objects.exists()
    assert browser.get(page).status_code == 404  # the login has ended
    cancel = AuthRequest(oidc_client)
    page = login_path(browser.get(cancel.url()))
    assert query_of(browser.post(page + "/cancel")["Location"])["error"] == "access_denied"


def test_a_denied_or_wrong_number_in_the_app_asks_again(oidc_client, citizen, device):
    browser = BrowserClient()
    page = login_path(browser.get(AuthRequest(oidc_client).url()))
    browser.post(page + "/user", {"user_id": citizen.user_id})
    browser.post(page + "/method", {"method": "app"})
    from tests.oidc.conftest import approve_in_app

    approve_in_app(device, code="xx")  # the wrong number: the request fails (§6 check 5)
    response = browser.post(page + "/app")
    assert response["Location"].endswith("result=failed")
    content = browser.get(response["Location"]).content
    assert b'id="method-app"' in content and b'id="result"' in content
    assert b'id="method-app"' in content


def test_the_pages_speak_danish_or_english(oidc_client, citizen):
    browser = BrowserClient()
    page = login_path(browser.get(AuthRequest(oidc_client, params={"ui_locales": "en-GB da"}).url()))
    assert b'lang="en"' in browser.get(page).content and b"User ID" in browser.get(page).content
    page = login_path(
        browser.get(AuthRequest(oidc_client, params={"ui_locales": None}).url(), HTTP_ACCEPT_LANGUAGE="da-DK,en;q=0.5")
    )
    assert b'lang="da"' in browser.get(page).content and b"Bruger-id" in browser.get(page).content


def test_a_login_page_belongs_to_its_browser(oidc_client, citizen):
    page = login_path(BrowserClient().get(AuthRequest(oidc_client).url()))
    stranger = BrowserClient()
    assert stranger.get(page).status_code == 404
    assert stranger.post(page + "/user", {"user_id": citizen.user_id}).status_code == 404


def test_unknown_user_id_is_said_on_the_page(oidc_client):
    browser = BrowserClient()
    page = login_path(browser.get(AuthRequest(oidc_client).url()))
    response = browser.post(page + "/user", {"user_id": "0000000000"})
    assert response.status_code == 400 and b'role="alert"' in response.content


def test_unknown_user_ids_are_limited_per_client_address(oidc_client, citizen, settings):
    """So that the pages cannot list which user IDs exist: past the limit of unknown user IDs from
    one address, every user ID gets the same too_many_attempts, known ones too."""
    settings.NEMID_OIDC_UNKNOWN_USER_LIMIT = 3
    guesser = BrowserClient(REMOTE_ADDR="198.51.100.7")
    page = login_path(guesser.get(AuthRequest(oidc_client).url()))
    for guess in ("0000000001", "0000000002", "0000000003"):
        assert guesser.post(page + "/user", {"user_id": guess}).status_code == 400
    refused = guesser.post(page + "/user", {"user_id": citizen.user_id})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert b'role="alert"' in refused.content
    from oidc.models import LoginTransaction

    assert LoginTransaction.objects.get().citizen is None
    # Another address is not held back, and a known user ID goes on.
    other = BrowserClient(REMOTE_ADDR="198.51.100.8")
    page = login_path(other.get(AuthRequest(oidc_client).url()))
    assert other.post(page + "/user", {"user_id": citizen.user_id}).status_code == 302


def test_logout_ends_the_login_at_the_provider(oidc_client, citizen, device, settings):
    oidc_client.client.post_logout_redirect_uris = "https://rp.example/bye"
    oidc_client.client.save()
    browser, request, code = logged_in(oidc_client, citizen, device)
    id_token = redeem(oidc_client, code, request.verifier).json()["id_token"]
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://rp.example/bye", "state": "st"})
    response = browser.get("/oidc/logout?" + query)
    assert response.status_code == 302 and response["Location"] == "https://rp.example/bye?state=st"
    assert not AccessToken.objects.exists()
    silent = AuthRequest(oidc_client, params={"prompt": "none"})
    assert query_of(browser.get(silent.url())["Location"])["error"] == "login_required"


def test_logout_refuses_bad_hints_and_unregistered_uris(oidc_client, citizen, device):
    browser, request, code = logged_in(oidc_client, citizen, device)
    id_token = redeem(oidc_client, code, request.verifier).json()["id_token"]
    bad = browser.get("/oidc/logout?" + urlencode({"id_token_hint": "garbage"}))
    assert bad.status_code == 400 and "Location" not in bad
    unregistered = browser.get(
        "/oidc/logout?" + urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"})
    )
    assert unregistered.status_code == 400 and "Location" not in unregistered
    other = register(name="pensionsinfo")
    mismatch = browser.get("/oidc/logout?" + urlencode({"id_token_hint": id_token, "client_id": other.client_id}))
    assert mismatch.status_code == 400
    # still logged in: nothing was changed by the refused requests
    assert query_of(browser.get(AuthRequest(oidc_client, params={"prompt": "none"}).url())["Location"]).get("code")


def test_logout_without_a_hint_asks_first(oidc_client, citizen, device):
    browser, _, _ = logged_in(oidc_client, citizen, device)
    asked = browser.get("/oidc/logout")
    assert asked.status_code == 200 and b'id="logout"' in asked.content
    done = browser.post("/oidc/logout", {"allow": "on"})
    assert done.status_code == 200 and b'id="logged-out"' in done.content
    assert (
        query_of(browser.get(AuthRequest(oidc_client, params={"prompt": "none"}).url())["Location"])["error"] == "login_required"
    )


def test_a_login_is_audited(oidc_client, citizen, device):
    logged_in(oidc_client, citizen, device)
    entry = AuditEntry.objects.get(action="oidc.login")
    assert entry.data["client_id"] == oidc_client.client_id and entry.data["acr"] == assurance.LOW
    assert AuditEntry.objects.filter(action="oidc.consent_granted").count() == 1


def test_second_device_can_answer(oidc_client, citizen, device):
    DeviceFactory(citizen=citizen)
    browser = BrowserClient()
    request = AuthRequest(oidc_client)
    assert through_pages_with_app(browser, request.url(), citizen, device)["Location"].startswith(oidc_client.redirect_uri)


def test_expired_logins_codes_and_tokens_are_purged(oidc_client, citizen, device):
    from oidc.models import LoginTransaction
    from oidc.tasks import purge_expired

    logged_in(oidc_client, citizen, device)  # a code, not redeemed
    BrowserClient().get(AuthRequest(oidc_client).url())  # a login left unfinished
    LoginTransaction.objects.update(expires_at=timezone.now() - datetime.timedelta(days=2))
    Grant.objects.update(expires=timezone.now() - datetime.timedelta(seconds=1))
    assert purge_expired() == 2
    assert not LoginTransaction.objects.exists() and not Grant.objects.exists()

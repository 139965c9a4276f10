"""OpenID Connect end to end in a real browser (docs/contract §10): the demo's public service logs in
through the provider's hosted pages with Authlib (which validates the ID token: signature against the
JWKS, iss, aud, nonce, expiry), and the browser phone approves with the two-digit number."""

from __future__ import annotations

import re
from typing import Any

import pytest

from citizens.services import activation_code_issue
from tests.e2e.test_demo_flows import activate_phone, screenshot
from tests.factories import CitizenFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def citizen_with_code(live_url):  # type: ignore[no-untyped-def]
    citizen = CitizenFactory(name="Jens Hansen")
    code, _ = activation_code_issue(citizen=citizen, actor="e2e")
    return citizen, code


def start_at_the_public_service(new_page: Any, user_id: str, *, level: str = "") -> tuple[Any, str]:
    site = new_page("public-service")
    site.set_viewport_size({"width": 390, "height": 844})  # the hosted pages on a phone-sized screen
    site.goto("/demo/public-service/")
    if level:
        site.select_option("#acr", level)
    site.click("#login")
    site.wait_for_url(re.compile(r".*/oidc/login/[0-9a-f-]+$"))
    site.fill("#user-id", user_id)
    site.click("#continue")
    site.click("#method-app")
    site.wait_for_selector("#verification-code")
    code = site.inner_text("#verification-code").strip()
    assert len(code) == 2 and code.isdigit()
    screenshot(site, "oidc-open-your-app.png")
    return site, code


def test_log_in_to_a_public_service_with_the_code_app(new_page, citizen_with_code):
    citizen, activation_code = citizen_with_code
    phone = activate_phone(new_page, activation_code)
    site, code = start_at_the_public_service(new_page, citizen.user_id)
    request = phone.wait_for_selector(".request[data-type=login]")
    assert "Borger.dk (demo)" in request.inner_text()
    request.query_selector(".code").fill(code)
    request.query_selector(".approve").click()
    # the hosted page hears the answer by itself and moves on to consent
    site.wait_for_selector("#allow")
    site.click("#allow")
    site.wait_for_selector("#welcome")
    assert site.inner_text("#welcome") == "Logged in as Jens Hansen"
    assert site.inner_text("#claim-amr") == '["pop"]'
    assert site.inner_text("#claim-acr") == "https://data.gov.dk/concept/core/nsis/loa/Low"
    sub = site.inner_text("#claim-sub")
    assert re.fullmatch(r"[0-9a-f]{64}", sub) and citizen.user_id not in sub
    assert site.inner_text("#claim-birthdate") == "1970-01-01"
    screenshot(site, "oidc-public-service.png")

    # single sign-on: logging in again needs no page at the provider
    site.click("#logout")
    site.wait_for_selector("#login")
    site.click("#login")
    site.wait_for_url(re.compile(r".*/oidc/login/[0-9a-f-]+$"))  # logged out at the provider too: asked again
    assert site.is_visible("#user-id")


def test_a_wrong_number_in_the_app_asks_for_another_try(new_page, citizen_with_code):
    citizen, activation_code = citizen_with_code
    phone = activate_phone(new_page, activation_code)
    site, code = start_at_the_public_service(new_page, citizen.user_id)
    request = phone.wait_for_selector(".request[data-type=login]")
    request.query_selector(".code").fill(f"{(int(code) + 1) % 100:02d}")
    request.query_selector(".approve").click()
    site.wait_for_selector("#result")
    assert site.is_visible("#method-app")


def test_substantial_without_a_password_is_refused_not_weakened(new_page, citizen_with_code):
    citizen, activation_code = citizen_with_code
    phone = activate_phone(new_page, activation_code)
    site, code = start_at_the_public_service(
        new_page, citizen.user_id, level="https://data.gov.dk/concept/core/nsis/loa/Substantial"
    )
    request = phone.wait_for_selector(".request[data-type=login]")
    request.query_selector(".code").fill(code)
    request.query_selector(".approve").click()
    site.wait_for_selector("#reason")  # this citizen has no password: the level cannot be reached
    site.click("text=Cancel and go back")
    site.wait_for_selector("#error")
    assert "unmet_authentication_requirements" in site.inner_text("#error")
    assert not site.is_visible("#welcome")

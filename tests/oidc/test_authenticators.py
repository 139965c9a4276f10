"""docs/contract §10 assurance levels through the hosted pages: the key card, the key fob and the
password (docs/contract §9 services), and acr_values Substantial and High honoured."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client as BrowserClient
from django.utils import timezone
from django.views.debug import SafeExceptionReporterFilter

from approvals.models import ApprovalRequest
from audit.models import AuditEntry
from citizens.models import Citizen
from citizens.services import citizen_password_set
from keycards.models import KeyCard
from keycards.services import key_card_issue
from keyfobs import totp
from keyfobs.services import key_fob_assign, key_fobs_import
from oidc import assurance
from oidc.views import hosted
from tests.keyfobs.pskc_helper import make_pskc
from tests.oidc.conftest import AuthRequest, approve_in_app, login_path, query_of, redeem, verify_id_token

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
SEED = b"12345678901234567890"


@pytest.fixture
def key_card(citizen) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return key_card_issue(citizen=citizen, actor="test").codes


@pytest.fixture
def key_fob(citizen):  # type: ignore[no-untyped-def]
    key_fobs_import(source=make_pskc([("FOB1", SEED)]), actor="test")
    return key_fob_assign(citizen=citizen, serial="FOB1", actor="test")


@pytest.fixture
def password(citizen) -> str:  # type: ignore[no-untyped-def]
    citizen_password_set(citizen=citizen, password=PASSWORD)
    return PASSWORD


def start(oidc_client: Any, citizen: Any, **params: str) -> tuple[BrowserClient, AuthRequest, str]:
    browser = BrowserClient()
    request = AuthRequest(oidc_client, params=params)
    page = login_path(browser.get(request.url()))
    assert browser.post(page + "/user", {"user_id": citizen.user_id}).status_code == 302
    return browser, request, page


def key_asked(browser: BrowserClient, page: str) -> str:
    import re

    content = browser.get(page).content.decode()
    match = re.search(r"(?:key|nøgle) (\d{4})", content)
    assert match, content
    return match.group(1)


def finish(browser: BrowserClient, page: str, oidc_client: Any, request: AuthRequest) -> dict[str, Any]:
    response = browser.get(page)
    if response.status_code == 200 and b'id="allow"' in response.content:
        response = browser.post(page + "/consent", {"allow": "yes"})
    params = query_of(response["Location"])
    assert "code" in params, params
    return verify_id_token(redeem(oidc_client, params["code"], request.verifier).json()["id_token"], oidc_client)


def test_key_card_alone_is_low(oidc_client, citizen, key_card):
    browser, request, page = start(oidc_client, citizen, ui_locales="en")
    assert b'id="method-key_card"' in browser.get(page).content
    browser.post(page + "/method", {"method": "key_card"})
    key = key_asked(browser, page)
    assert browser.post(page + "/code", {"code": key_card[key]}).status_code == 302
    claims = finish(browser, page, oidc_client, request)
    assert claims["acr"] == assurance.LOW and claims["amr"] == ["otp"]


def test_wrong_key_card_code_is_counted_and_said(oidc_client, citizen, key_card):
    browser, _, page = start(oidc_client, citizen, ui_locales="en")
    browser.post(page + "/method", {"method": "key_card"})
    key = key_asked(browser, page)
    wrong = "000000" if key_card[key] != "000000" else "111111"
    response = browser.post(page + "/code", {"code": wrong})
    assert response.status_code == 400 and b'role="alert"' in response.content
    assert Citizen.objects.get(pk=citizen.pk).failed_attempts == 1
    assert browser.post(page + "/code", {"code": key_card[key]}).status_code == 302


def test_key_fob_and_password_is_substantial(oidc_client, citizen, key_fob, password):
    browser, request, page = start(oidc_client, citizen, acr_values=assurance.SUBSTANTIAL)
    content = browser.get(page).content
    assert b'id="method-key_fob"' in content and b'id="method-app"' not in content  # no app: no device
    browser.post(page + "/method", {"method": "key_fob"})
    code = totp.code_at_step(SEED, totp.time_step(timezone.now(), 30))
    assert browser.post(page + "/code", {"code": code}).status_code == 302
    assert b'id="password"' in browser.get(page).content
    wrong = browser.post(page + "/password", {"password": "not it at all"})
    assert wrong.status_code == 400
    assert browser.post(page + "/password", {"password": password}).status_code == 302
    claims = finish(browser, page, oidc_client, request)
    assert claims["acr"] == assurance.SUBSTANTIAL and claims["amr"] == ["otp", "pwd", "mfa"]
    assert Citizen.objects.get(pk=citizen.pk).failed_attempts == 0  # a whole success starts the count over


def test_code_app_and_password_is_high(oidc_client, citizen, device, key_card, password):
    browser, request, page = start(oidc_client, citizen, acr_values=assurance.HIGH)
    content = browser.get(page).content
    assert b'id="method-app"' in content and b'id="method-key_card"' not in content  # only the app reaches High
    refused = browser.post(page + "/method", {"method": "key_card"})
    assert refused.status_code == 400
    browser.post(page + "/method", {"method": "app"})
    approve_in_app(device)
    browser.post(page + "/app")
    assert b'id="password"' in browser.get(page).content
    browser.post(page + "/password", {"password": password})
    claims = finish(browser, page, oidc_client, request)
    assert claims["acr"] == assurance.HIGH and claims["amr"] == ["pop", "pwd", "mfa"]


def test_step_up_asks_only_for_what_is_missing(oidc_client, citizen, device, password):
    browser, request, page = start(oidc_client, citizen)
    browser.post(page + "/method", {"method": "app"})
    approve_in_app(device)
    browser.post(page + "/app")
    assert finish(browser, page, oidc_client, request)["acr"] == assurance.LOW
    higher = AuthRequest(oidc_client, params={"acr_values": assurance.HIGH})
    page = login_path(browser.get(higher.url()))
    assert b'id="password"' in browser.get(page).content  # the app was used in this session already
    browser.post(page + "/password", {"password": password})
    assert finish(browser, page, oidc_client, higher)["acr"] == assurance.HIGH


def test_high_without_the_app_cannot_be_reached(oidc_client, citizen, key_card, password):
    browser, _, page = start(oidc_client, citizen, acr_values=assurance.HIGH)
    assert b'id="reason"' in browser.get(page).content
    params = query_of(browser.post(page + "/cancel")["Location"])
    assert params["error"] == "unmet_authentication_requirements"


def test_a_throttled_key_card_or_password_is_429_with_retry_after(oidc_client, citizen, key_card, password):
    """docs/contract §9: a throttled attempt is 429 too_many_attempts with Retry-After, is not
    checked, and counts neither as a failure nor as a success."""
    browser, _, page = start(oidc_client, citizen, ui_locales="en", acr_values=assurance.SUBSTANTIAL)
    browser.post(page + "/method", {"method": "key_card"})
    key = key_asked(browser, page)
    soon = timezone.now() + datetime.timedelta(seconds=60)
    KeyCard.objects.filter(citizen=citizen).update(blocked_until=soon)
    throttled = browser.post(page + "/code", {"code": key_card[key]})
    assert throttled.status_code == 429 and 1 <= int(throttled["Retry-After"]) <= 60
    assert b'role="alert"' in throttled.content and b'id="password"' not in throttled.content
    KeyCard.objects.filter(citizen=citizen).update(blocked_until=None)
    assert browser.post(page + "/code", {"code": key_card[key]}).status_code == 302  # the code was not used up
    assert b'id="password"' in browser.get(page).content
    Citizen.objects.filter(pk=citizen.pk).update(password_blocked_until=soon)
    throttled = browser.post(page + "/password", {"password": password})
    assert throttled.status_code == 429 and 1 <= int(throttled["Retry-After"]) <= 60
    citizen.refresh_from_db()
    assert citizen.failed_attempts == 0 and citizen.password_failures == 0
    Citizen.objects.filter(pk=citizen.pk).update(password_blocked_until=None)
    wrong = browser.post(page + "/password", {"password": "not it at all"})
    assert wrong.status_code == 400 and "Retry-After" not in wrong


def test_a_prompt_limit_refusal_of_the_code_app_is_audited_and_said(oidc_client, citizen, device, settings):
    """The refusal's audit entry, written by the approval engine, is not rolled back with the
    login's own transaction; the page says to wait (429 with Retry-After)."""
    settings.NEMID_MAX_PENDING_APPROVALS = 1000
    settings.NEMID_PROMPT_LIMITS_PER_CITIZEN = ((1, 600),)
    browser, _, page = start(oidc_client, citizen, ui_locales="en")
    assert browser.post(page + "/method", {"method": "app"}).status_code == 302
    other, _, other_page = start(oidc_client, citizen, ui_locales="en")
    refused = other.post(other_page + "/method", {"method": "app"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0 and b'role="alert"' in refused.content
    entry = AuditEntry.objects.get(action="approval.rate_limited")
    assert entry.object_id == citizen.user_id and entry.data["rule"] == "citizen:1/600s"
    assert ApprovalRequest.objects.count() == 1


@pytest.mark.parametrize(("view", "name"), [(hosted.login_code, "code"), (hosted.login_password, "password")])
def test_the_typed_code_and_password_are_hidden_from_error_reports(rf, view, name):
    request = rf.post("/oidc/login/x", {name: "123456", "other": "shown"})
    request.session = SessionStore()
    view(request, login_id="00000000-0000-0000-0000-000000000000")
    reported = SafeExceptionReporterFilter().get_post_parameters(request)
    assert reported[name] != "123456" and reported["other"] == "shown"

"""The demo's login page finished with a key card or key fob code instead of the app (/demo/login/code):
the key number asked, the code checked and used once by the card's or fob's own service, and a page
that answers alike whoever the user ID belongs to."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from citizens.models import Citizen
from keycards.services import key_card_issue
from keyfobs import totp
from keyfobs.services import key_fob_assign, key_fobs_import
from tests.factories import CitizenFactory
from tests.keyfobs.pskc_helper import make_pskc

pytestmark = pytest.mark.django_db

SEED = b"12345678901234567890"


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def post(browser: Client, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    page = browser.get("/demo/login/")
    return browser.post(url, data, HTTP_X_CSRFTOKEN=page.cookies["csrftoken"].value)


def start(browser: Client, user_id: str, method: str) -> dict:
    response = post(browser, "/demo/login/code", {"user_id": user_id, "method": method})
    assert response.status_code == 200, response.content
    return response.json()


def finish(browser: Client, login_id: str, code: str):  # type: ignore[no-untyped-def]
    return post(browser, f"/demo/login/code/{login_id}", {"code": code})


@pytest.fixture
def card_holder(citizen):  # type: ignore[no-untyped-def]
    citizen.codes = key_card_issue(citizen=citizen, actor="test").codes
    return citizen


@pytest.fixture
def fob_holder(citizen):  # type: ignore[no-untyped-def]
    key_fobs_import(source=make_pskc([("FOB1", SEED)]), actor="test")
    key_fob_assign(citizen=citizen, serial="FOB1", actor="test")
    return citizen


def test_the_login_page_offers_the_app_a_key_card_and_a_key_fob(browser):
    page = browser.get("/demo/login/").content.decode()
    for needle in ('value="app"', 'value="key_card"', 'value="key_fob"', '<label for="otp-code">'):
        assert needle in page


def test_a_key_card_code_logs_in_once(browser, card_holder):
    started = start(browser, card_holder.user_id, "key_card")
    assert set(started) == {"id", "method", "key_card"} and started["method"] == "key_card"
    key = started["key_card"]["key"]
    assert started["key_card"]["serial_hint"] == card_holder.key_cards.get().serial[-3:]
    response = finish(browser, started["id"], card_holder.codes[key])
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": started["id"],
        "status": "approved",
        "name": card_holder.name,
        "user_id": card_holder.user_id,
    }
    # the login is over, and the code is used: a new login asks another key number
    assert finish(browser, started["id"], card_holder.codes[key]).status_code == 404
    assert start(browser, card_holder.user_id, "key_card")["key_card"]["key"] != key


def test_a_wrong_key_card_code_may_be_typed_again_and_counts_as_a_failure(browser, card_holder):
    started = start(browser, card_holder.user_id, "key_card")
    key = started["key_card"]["key"]
    wrong = f"{(int(card_holder.codes[key]) + 1) % 10**6:06d}"
    response = finish(browser, started["id"], wrong)
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"
    assert Citizen.objects.get(pk=card_holder.pk).failed_attempts == 1
    # the same key number is asked until it is answered right
    assert start(browser, card_holder.user_id, "key_card")["key_card"]["key"] == key
    assert finish(browser, started["id"], card_holder.codes[key]).status_code == 200
    assert Citizen.objects.get(pk=card_holder.pk).failed_attempts == 0


def test_a_throttled_key_card_is_429_with_retry_after(browser, card_holder):
    started = start(browser, card_holder.user_id, "key_card")
    wrong = f"{(int(card_holder.codes[started['key_card']['key']]) + 1) % 10**6:06d}"
    for _ in range(3):
        assert finish(browser, started["id"], wrong).status_code == 400
    response = finish(browser, started["id"], card_holder.codes[started["key_card"]["key"]])
    assert response.status_code == 429 and response.json()["code"] == "too_many_attempts"
    assert int(response["Retry-After"]) > 0


def test_a_key_fob_code_logs_in_and_is_accepted_once(browser, fob_holder):
    code = totp.code_at(SEED, timezone.now())
    started = start(browser, fob_holder.user_id, "key_fob")
    assert started == {"id": started["id"], "method": "key_fob"}
    response = finish(browser, started["id"], code)
    assert response.status_code == 200 and response.json()["user_id"] == fob_holder.user_id
    again = start(browser, fob_holder.user_id, "key_fob")
    assert finish(browser, again["id"], code).json()["code"] == "invalid_credentials"


@pytest.mark.parametrize("who", ["unknown", "no card", "has a card"])
def test_the_key_card_prompt_never_tells_who_has_a_card(browser, who):
    user_id = "9999999999"
    if who != "unknown":
        citizen = CitizenFactory()
        user_id = citizen.user_id
        if who == "has a card":
            key_card_issue(citizen=citizen, actor="test")
    first = start(browser, user_id, "key_card")
    assert set(first) == {"id", "method", "key_card"}
    assert len(first["key_card"]["serial_hint"]) == 3 and len(first["key_card"]["key"]) == 4
    # the same key number again, as a real card's until answered right
    assert start(browser, user_id, "key_card")["key_card"] == first["key_card"]
    response = finish(browser, first["id"], "123456")
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"


def test_a_code_login_ends_after_five_minutes_and_belongs_to_its_session(browser, card_holder, monkeypatch):
    started = start(browser, card_holder.user_id, "key_card")
    code = card_holder.codes[started["key_card"]["key"]]
    assert Client().post(f"/demo/login/code/{started['id']}", {"code": code}).status_code == 404
    later = timezone.now() + datetime.timedelta(seconds=301)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = finish(browser, started["id"], code)
    assert response.status_code == 404 and "start again" in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "field"),
    [({"user_id": "12", "method": "key_card"}, "user_id"), ({"user_id": "1234567890", "method": "sms"}, "method")],
)
def test_a_malformed_start_is_a_validation_problem(browser, data, field):
    response = post(browser, "/demo/login/code", data)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_code_posts_without_a_csrf_token_are_refused(browser):
    assert browser.post("/demo/login/code", {"user_id": "1234567890", "method": "key_card"}).status_code == 403

"""The demo end to end in a real browser: the browser phone activates itself with WebCrypto, then
approves or denies a 3-D Secure payment and a login with number matching (docs/contract §4, §6, §8).

Set NEMID_SCREENSHOTS_DIR=docs/screenshots to (re)take the README's screenshots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from citizens.services import activation_code_issue
from tests.factories import CitizenFactory
from threeds.services import card_register

pytestmark = pytest.mark.e2e

VISA = "4111111111111111"
SCREENSHOTS = os.environ.get("NEMID_SCREENSHOTS_DIR", "")


def screenshot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


@pytest.fixture
def citizen_with_card(live_url):  # type: ignore[no-untyped-def]
    citizen = CitizenFactory(name="Jens Hansen")
    card_register(citizen=citizen, pan=VISA, actor="e2e")
    code, _ = activation_code_issue(citizen=citizen, actor="e2e")
    return citizen, code


def activate_phone(new_page: Any, code: str) -> Any:
    phone = new_page("phone")
    phone.goto("/demo/phone/")
    phone.fill("#activation-code", code)
    phone.click("#register-button")
    phone.wait_for_selector("#phone[data-state=home]")
    return phone


def start_payment(new_page: Any) -> Any:
    shop = new_page("shop")
    shop.goto("/demo/shop/")
    shop.fill("#pan", "4111 1111 1111 1111")
    shop.click("#pay")
    shop.wait_for_selector("#waiting:not([hidden])")
    return shop


def test_a_payment_approved_on_the_phone_ends_on_the_receipt(new_page, citizen_with_card):
    citizen, code = citizen_with_card
    phone = activate_phone(new_page, code)
    assert phone.inner_text("#user-id") == citizen.user_id
    shop = start_payment(new_page)
    assert "Approve 149.95 DKK to Webshop ApS in your app" in shop.inner_text("#waiting")
    screenshot(shop, "checkout-waiting.png")

    request = phone.wait_for_selector(".request[data-type=payment]")
    assert request.query_selector(".amount").inner_text() == "149.95 DKK"
    assert request.query_selector(".payee").inner_text() == "to Webshop ApS"
    assert request.query_selector(".rp").inner_text() == "Webshop ApS"
    assert "1111" in request.query_selector(".message").inner_text()
    assert not request.query_selector(".code").is_visible()  # no number matching on payments
    screenshot(phone, "phone-request.png")
    request.query_selector(".approve").click()

    shop.wait_for_selector("#receipt:not([hidden])")
    assert "149.95 DKK" in shop.inner_text("#receipt-amount")
    assert shop.inner_text("#receipt-status") == "Y" and shop.inner_text("#receipt-eci") == "05"
    screenshot(shop, "receipt.png")
    phone.wait_for_selector("#log li.approved")


def test_a_payment_denied_on_the_phone_ends_on_the_refusal(new_page, citizen_with_card):
    _, code = citizen_with_card
    phone = activate_phone(new_page, code)
    shop = start_payment(new_page)
    phone.click(".request[data-type=payment] .deny")
    shop.wait_for_selector("#refusal:not([hidden])")
    assert "denied in the app" in shop.inner_text("#refusal-reason")
    assert shop.is_hidden("#receipt")


def start_login(new_page: Any, user_id: str) -> tuple[Any, str]:
    site = new_page("login")
    site.goto("/demo/login/")
    site.fill("#user-id", user_id)
    site.click("#login-button")
    site.wait_for_selector("#code:not([hidden])")
    code = site.inner_text("#verification-code").strip()
    assert len(code) == 2 and code.isdigit()
    return site, code


def test_a_login_with_the_right_number_succeeds(new_page, citizen_with_card):
    citizen, activation_code = citizen_with_card
    phone = activate_phone(new_page, activation_code)
    site, code = start_login(new_page, citizen.user_id)
    request = phone.wait_for_selector(".request[data-type=login]")
    assert request.query_selector(".rp").inner_text() == "Webshop ApS"
    assert request.query_selector(".code").is_visible()
    request.query_selector(".code").fill(code)
    request.query_selector(".approve").click()
    site.wait_for_selector("#welcome:not([hidden])")
    assert site.inner_text("#welcome-name") == f"Jens Hansen ({citizen.user_id})"


def test_a_login_with_a_wrong_number_fails(new_page, citizen_with_card):
    citizen, activation_code = citizen_with_card
    phone = activate_phone(new_page, activation_code)
    site, code = start_login(new_page, citizen.user_id)
    request = phone.wait_for_selector(".request[data-type=login]")
    request.query_selector(".code").fill(f"{(int(code) + 1) % 100:02d}")
    request.query_selector(".approve").click()
    site.wait_for_selector("#refusal:not([hidden])")
    assert "did not match" in site.inner_text("#refusal-reason")
    phone.wait_for_selector("#log li.failed")
    assert site.is_hidden("#welcome")

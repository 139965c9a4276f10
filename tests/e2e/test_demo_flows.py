"""The demo end to end in a real browser: the browser phone activates itself with WebCrypto, then
approves or denies a 3-D Secure payment and a login with number matching (docs/contract §4, §6, §8).

Set NEMID_SCREENSHOTS_DIR=docs/screenshots to (re)take the README's screenshots."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

VISA = "4111111111111111"
SCREENSHOTS = os.environ.get("NEMID_SCREENSHOTS_DIR", "")


def screenshot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


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
    assert request.query_selector(".headline").inner_text() == "Approve payment?"
    assert request.query_selector(".amount").inner_text() == "149.95 DKK"
    assert request.query_selector(".payee").inner_text() == "to Webshop ApS"
    assert request.query_selector(".message").inner_text() == "Card payment, card ending 1111"
    # who asks is named once: the payee is the shop that asks
    assert request.inner_text().count("Webshop ApS") == 1
    assert not request.query_selector(".asked-by").is_visible()
    assert re.fullmatch(r"Expires in [45]:[0-5][0-9]", request.query_selector(".countdown").inner_text())
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
    phone.wait_for_selector("#log li.denied")


def test_deny_and_report_fraud_blocks_logins_and_tells_the_shop(new_page, citizen_with_card):
    citizen, code = citizen_with_card
    phone = activate_phone(new_page, code)
    shop = start_payment(new_page)
    phone.click(".request[data-type=payment] .report")
    shop.wait_for_selector("#refusal:not([hidden])")
    assert "reported as fraud" in shop.inner_text("#refusal-reason")
    assert "reported as fraud" in phone.wait_for_selector("#log li.denied").inner_text()
    citizen.refresh_from_db()
    assert citizen.login_blocked_until is not None


def test_the_history_survives_a_reload_and_shows_expiry(new_page, citizen_with_card):
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request_expire_if_overdue

    _, code = citizen_with_card
    phone = activate_phone(new_page, code)
    start_payment(new_page)
    phone.click(".request[data-type=payment] .deny")
    phone.wait_for_selector("#log li.denied")
    # a second payment that nobody answers, expired by the server
    start_payment(new_page)
    phone.wait_for_selector(".request[data-type=payment]")
    pending = ApprovalRequest.objects.get(status=ApprovalRequest.Status.PENDING)
    ApprovalRequest.objects.filter(pk=pending.pk).update(expires_at=pending.created_at)
    pending.refresh_from_db()
    # In a thread of its own: this one has Playwright's event loop, where the broadcast cannot run.
    expirer = threading.Thread(target=approval_request_expire_if_overdue, kwargs={"approval": pending})
    expirer.start()
    expirer.join()
    expired = phone.wait_for_selector("#log li.expired")
    assert "Expired" in expired.inner_text() and "149.95 DKK" in expired.inner_text()
    assert phone.query_selector(".request") is None
    phone.reload()
    phone.wait_for_selector("#phone[data-state=home]")
    history = phone.inner_text("#log")
    assert "Expired" in history and "Denied" in history


def test_deactivating_asks_first_and_the_device_id_stays_out_of_sight(new_page, citizen_with_card):
    from devices.models import Device

    _, code = citizen_with_card
    phone = activate_phone(new_page, code)
    device = Device.objects.get()
    assert str(device.id) not in phone.inner_text("body")
    phone.click("details.about summary")
    assert str(device.id) in phone.inner_text("details.about")
    phone.click("#forget")
    assert phone.is_visible("#forget-dialog")
    phone.click("#forget-dialog button[value=cancel]")
    assert phone.is_hidden("#forget-dialog")
    device.refresh_from_db()
    assert device.status == Device.Status.ACTIVE
    phone.click("#forget")
    phone.click("#forget-confirm")
    phone.wait_for_selector("#phone[data-state=register]")
    device.refresh_from_db()
    assert device.status != Device.Status.ACTIVE


def test_on_a_phone_sized_screen_there_is_no_drawn_phone_and_one_line_of_top_bar(chromium, live_url):
    context = chromium.new_context(base_url=live_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto("/demo/phone/")
        page.wait_for_selector("#phone[data-state=register]")
        frame = page.eval_on_selector(
            "#phone",
            "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.borderTopLeftRadius, e.getBoundingClientRect().width]; }",
        )
        assert frame[0] == "rgba(0, 0, 0, 0)" and frame[1] == "0px" and frame[2] >= 380
        for bar in ("header.topbar", ".phone-title"):
            tops = page.eval_on_selector_all(
                f"{bar} a, {bar} h1, {bar} .pill", "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
            )
            assert tops and max(tops) - min(tops) <= 6, (bar, tops)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


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
    assert request.query_selector(".headline").inner_text() == "Log in to Webshop ApS?"
    assert request.inner_text().count("Webshop ApS") == 1
    assert request.query_selector(".code").is_visible()
    request.query_selector(".code").fill(code)
    request.query_selector(".code").press("Enter")  # Enter in the code field approves
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


def test_the_phone_activates_with_user_id_password_and_a_key_card_code_then_gets_a_login(new_page, live_url):
    """docs/contract §9: a new phone without an activation letter, in the browser."""
    from citizens.services import citizen_password_set
    from keycards.services import key_card_issue
    from tests.factories import CitizenFactory

    citizen = CitizenFactory(name="Jens Hansen")
    citizen_password_set(citizen=citizen, password="blue horse eats late")
    codes = key_card_issue(citizen=citizen, actor="e2e").codes
    phone = new_page("phone")
    phone.goto("/demo/phone/")
    phone.check("input[name=activation_way][value=challenge]")
    phone.fill("#challenge-user-id", citizen.user_id)
    phone.fill("#challenge-password", "blue horse eats late")
    phone.click("#challenge-button")
    key = phone.wait_for_selector("#challenge-key").inner_text().strip()
    assert phone.inner_text("#challenge-prompt").endswith(f"ending in {citizen.key_cards.get().serial[-3:]}.")
    phone.fill("#challenge-code", codes[key])
    phone.click("#challenge-activate")
    phone.wait_for_selector("#phone[data-state=home]")
    assert phone.inner_text("#user-id") == citizen.user_id

    start_login(new_page, citizen.user_id)
    request = phone.wait_for_selector(".request[data-type=login]")
    assert request.query_selector(".headline").inner_text() == "Log in to Webshop ApS?"

"""The demo pages' server side (/demo/): CSRF-protected JSON endpoints over the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from approvals.events import device_view
from approvals.models import ApprovalRequest
from approvals.services import approval_request_decide
from demo.models import DemoRelyingParty
from relying_parties.models import RelyingParty
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from threeds.services import card_register

pytestmark = pytest.mark.django_db

VISA = "4111111111111111"


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf(browser: Client, page: str) -> str:
    response = browser.get(page)
    assert response.status_code == 200
    return response.cookies["csrftoken"].value


def post(browser: Client, page: str, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return browser.post(url, data, HTTP_X_CSRFTOKEN=csrf(browser, page))


def decide(device, approval_id: str, decision: str = "approve", **overrides: object) -> None:  # type: ignore[no-untyped-def]
    approval = ApprovalRequest.objects.select_related("relying_party").get(id=approval_id)
    signed = device.phone.sign_decision(device_view(approval), decision, **overrides)
    approval_request_decide(device=device, approval_id=approval.id, signed_decision=signed)


def test_pages_render(browser):
    for page, text in [
        ("/demo/", "Approve on your phone"),
        ("/demo/shop/", "149.95 DKK"),
        ("/demo/login/", "User ID"),
        ("/demo/phone/", "Activation code"),
    ]:
        response = browser.get(page)
        assert response.status_code == 200 and text in response.content.decode(), page


def test_the_checkout_pays_with_3ds_and_ends_on_y(browser, device):
    card_register(citizen=device.citizen, pan=VISA, actor="test")
    response = post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": "4111 1111 1111 1111"})
    assert response.status_code == 200, response.content
    ares = response.json()
    assert ares["transStatus"] == "D"
    assert (ares["amount"], ares["currency"], ares["payee"]) == ("149.95", "DKK", "Webshop ApS")
    approval = ApprovalRequest.objects.get(id=ares["acsTransID"])
    assert approval.relying_party.name == "Webshop ApS" and approval.payment == {
        "amount": "149.95",
        "currency": "DKK",
        "payee": "Webshop ApS",
    }
    status_url = f"/demo/shop/status/{ares['acsTransID']}"
    assert browser.get(status_url).json()["transStatus"] == "D"
    decide(device, ares["acsTransID"])
    result = browser.get(status_url).json()
    assert result["transStatus"] == "Y" and result["eci"] == "05"


def test_the_demo_rp_is_created_once_and_allowed_3ds(browser, device):
    card_register(citizen=device.citizen, pan=VISA, actor="test")
    post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": VISA})
    post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": VISA})
    rp = DemoRelyingParty.objects.get().relying_party
    assert rp.name == "Webshop ApS" and rp.allows("3ds") and rp.allows("login")
    assert RelyingParty.objects.count() == 1


def test_the_marked_rp_is_used_and_a_namesake_is_not(browser, device):
    namesake = RelyingPartyFactory(name="Webshop ApS", allowed_types=["login", "payment", "3ds"])
    marked = RelyingPartyFactory(name="Demo Shop", allowed_types=["login", "payment", "3ds"])
    DemoRelyingParty.objects.create(role=DemoRelyingParty.Role.WEBSHOP, relying_party=marked)
    card_register(citizen=device.citizen, pan=VISA, actor="test")
    ares = post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": VISA}).json()
    approval = ApprovalRequest.objects.get(id=ares["acsTransID"])
    assert approval.relying_party == marked != namesake
    assert "Demo Shop" in browser.get("/demo/shop/").content.decode()
    assert "Log in to Demo Shop" in browser.get("/demo/login/").content.decode()


def test_an_unknown_card_is_refused_at_once(browser, device):
    ares = post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": "5555555555554444"}).json()
    assert ares["transStatus"] == "N" and ares["transStatusReason"] == "08"


def test_an_invalid_card_number_is_a_validation_problem(browser):
    response = post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": "1234"})
    assert response.status_code == 400 and "acctNumber" in response.json()["errors"]


def test_posts_without_a_csrf_token_are_refused(browser):
    assert browser.post("/demo/shop/pay", {"pan": VISA}).status_code == 403
    assert browser.post("/demo/login/start", {"user_id": "1234567890"}).status_code == 403


def test_a_payment_of_another_session_is_404(browser, device):
    card_register(citizen=device.citizen, pan=VISA, actor="test")
    ares = post(browser, "/demo/shop/", "/demo/shop/pay", {"pan": VISA}).json()
    assert Client().get(f"/demo/shop/status/{ares['acsTransID']}").status_code == 404


def test_login_with_the_right_number_logs_in(browser, device):
    started = post(browser, "/demo/login/", "/demo/login/start", {"user_id": device.citizen.user_id}).json()
    assert started["status"] == "pending" and len(started["verification_code"]) == 2
    status_url = f"/demo/login/status/{started['id']}"
    assert browser.get(status_url).json()["status"] == "pending"
    decide(device, started["id"], verification_code=started["verification_code"])
    result = browser.get(status_url).json()
    assert result["status"] == "approved" and result["name"] == device.citizen.name


def test_login_with_a_wrong_number_fails(browser, device):
    started = post(browser, "/demo/login/", "/demo/login/start", {"user_id": device.citizen.user_id}).json()
    wrong = f"{(int(started['verification_code']) + 1) % 100:02d}"
    with pytest.raises(Exception):
        decide(device, started["id"], verification_code=wrong)
    result = browser.get(f"/demo/login/status/{started['id']}").json()
    assert result["status"] == "failed" and "name" not in result


@pytest.mark.parametrize("user_id", ["abc", "", "12345678901"])
def test_a_malformed_user_id_is_a_validation_problem(browser, user_id):
    response = post(browser, "/demo/login/", "/demo/login/start", {"user_id": user_id})
    assert response.status_code == 400 and "user_id" in response.json()["errors"]


def _locked(citizen) -> None:  # type: ignore[no-untyped-def]
    from citizens.models import Citizen

    Citizen.objects.filter(pk=citizen.pk).update(locked_until=timezone.now() + timedelta(hours=1))


@pytest.mark.parametrize("who", ["unknown", "no phone", "locked", "has a phone"])
def test_the_login_page_never_tells_whether_a_user_id_exists(browser, who, monkeypatch):
    """Whoever the user ID belongs to, the page answers alike: a number to type and `pending`, then
    `expired` at the same time if nobody answers."""
    if who == "unknown":
        user_id = "9999999999"
    else:
        citizen = CitizenFactory()
        user_id = citizen.user_id
        if who != "no phone":
            DeviceFactory(citizen=citizen)
        if who == "locked":
            _locked(citizen)
    start = timezone.now()
    elapsed = [timedelta(0)]
    monkeypatch.setattr(timezone, "now", lambda: start + elapsed[0])
    response = post(browser, "/demo/login/", "/demo/login/start", {"user_id": user_id})
    assert response.status_code == 200
    started = response.json()
    assert set(started) == {"id", "verification_code", "status"}
    assert started["status"] == "pending" and len(started["verification_code"]) == 2
    status_url = f"/demo/login/status/{started['id']}"
    assert browser.get(status_url).json() == {"id": started["id"], "status": "pending"}
    elapsed[0] = timedelta(seconds=119)
    assert browser.get(status_url).json()["status"] == "pending"
    elapsed[0] = timedelta(seconds=121)
    assert browser.get(status_url).json() == {"id": started["id"], "status": "expired"}
    assert Client().get(status_url).status_code == 404


def test_login_status_of_another_session_is_404(browser, device):
    started = post(browser, "/demo/login/", "/demo/login/start", {"user_id": device.citizen.user_id}).json()
    assert Client().get(f"/demo/login/status/{started['id']}").status_code == 404
    assert browser.get("/demo/login/status/not-a-uuid").status_code == 404


def test_the_bare_address_leads_to_the_demo(browser):
    response = browser.get("/")
    assert response.status_code == 302 and response["Location"] == "/demo/"


def test_without_the_demo_the_bare_address_and_the_demo_are_404(settings):
    import importlib

    from django.urls import clear_url_caches, resolve
    from django.urls.exceptions import Resolver404

    import nemid_app_backend.urls

    settings.NEMID_DEMO = False
    try:
        without_demo = importlib.reload(nemid_app_backend.urls)
        for path in ("/", "/demo/", "/demo/phone/"):
            with pytest.raises(Resolver404):
                resolve(path, urlconf=without_demo)
    finally:
        settings.NEMID_DEMO = True
        importlib.reload(nemid_app_backend.urls)
        clear_url_caches()

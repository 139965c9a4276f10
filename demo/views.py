"""Demo pages (only mounted when settings.NEMID_DEMO): a webshop checkout with 3-D Secure, a login
page of a relying party (the code app, or a key card or key fob code), and a browser "phone". Thin:
the pages' JSON endpoints call demo.services and the selectors, and keep the ids they started in the
session, so a visitor sees only their own."""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from approvals.selectors import approval_get_for_relying_party
from approvals.services import approval_request_expire_if_overdue
from demo import services
from nemid_app_backend.exception_handlers import problem_json_response
from nemid_app_backend.exceptions import ApplicationError, NotFoundError
from threeds.selectors import threeds_ares, threeds_authentication_get, threeds_rreq

SESSION_PAYMENTS = "demo_payments"
SESSION_LOGINS = "demo_logins"
SESSION_DECOYS = "demo_login_decoys"
SESSION_CODE_LOGINS = "demo_code_logins"
SESSION_MAX_IDS = 20


def _remember(request: HttpRequest, key: str, value: str) -> None:
    ids = [value, *request.session.get(key, [])][:SESSION_MAX_IDS]
    request.session[key] = ids


def _owned(request: HttpRequest, key: str, value: str) -> None:
    if value not in request.session.get(key, []):
        raise NotFoundError()


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/index.html")


@require_GET
@ensure_csrf_cookie
def shop(request: HttpRequest) -> HttpResponse:
    context = {"basket": services.BASKET, "shop_name": services.demo_relying_party().name, "test_card": services.TEST_CARD}
    return render(request, "demo/shop.html", context)


@require_POST
def shop_pay(request: HttpRequest) -> JsonResponse:
    try:
        authentication = services.demo_checkout_start(pan=request.POST.get("pan", ""))
    except ApplicationError as error:
        return problem_json_response(error)
    acs_trans_id = str(authentication.acs_trans_id)
    _remember(request, SESSION_PAYMENTS, acs_trans_id)
    approval = authentication.approval
    return JsonResponse(
        {
            **threeds_ares(authentication),
            "amount": approval.payment_amount if approval else services.BASKET.total,
            "currency": approval.payment_currency if approval else services.BASKET.currency,
            "payee": approval.payment_payee if approval else authentication.merchant_name,
        }
    )


@require_GET
def shop_status(request: HttpRequest, acs_trans_id: str) -> JsonResponse:
    try:
        _owned(request, SESSION_PAYMENTS, acs_trans_id)
        authentication = threeds_authentication_get(acs_trans_id=acs_trans_id)
        if authentication.approval is not None:
            authentication.approval = approval_request_expire_if_overdue(approval=authentication.approval)
    except ApplicationError as error:
        return problem_json_response(error)
    return JsonResponse(threeds_rreq(authentication))


@require_GET
@ensure_csrf_cookie
def login(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/login.html", {"site_name": services.demo_relying_party().name})


@require_POST
def login_start(request: HttpRequest) -> JsonResponse:
    try:
        started = services.demo_login_start(user_id=request.POST.get("user_id", ""))
    except ApplicationError as error:
        return problem_json_response(error)
    _remember(request, SESSION_LOGINS, started.id)
    if started.approval is None:
        decoys = dict(list(request.session.get(SESSION_DECOYS, {}).items())[-SESSION_MAX_IDS:])
        decoys[started.id] = started.expires_at.timestamp()
        request.session[SESSION_DECOYS] = decoys
    return JsonResponse({"id": started.id, "verification_code": started.verification_code or None, "status": "pending"})


@require_GET
def login_status(request: HttpRequest, approval_id: str) -> JsonResponse:
    try:
        _owned(request, SESSION_LOGINS, approval_id)
        decoy_expires_at = request.session.get(SESSION_DECOYS, {}).get(approval_id)
        if decoy_expires_at is not None:
            expired = timezone.now().timestamp() >= decoy_expires_at
            return JsonResponse({"id": approval_id, "status": "expired" if expired else "pending"})
        approval = approval_get_for_relying_party(relying_party=services.demo_relying_party(), approval_id=approval_id)
        if approval is None:
            raise NotFoundError()
        approval = approval_request_expire_if_overdue(approval=approval)
    except ApplicationError as error:
        return problem_json_response(error)
    body: dict[str, Any] = {"id": str(approval.id), "status": approval.status}
    if approval.status == approval.Status.APPROVED:
        body["name"] = approval.citizen.name
        body["user_id"] = approval.citizen.user_id
    return JsonResponse(body)


@require_POST
def login_code_start(request: HttpRequest) -> JsonResponse:
    """Log in with a key card or key fob code instead of the app: what to ask for."""
    try:
        started = services.demo_code_login_start(user_id=request.POST.get("user_id", ""), method=request.POST.get("method"))
    except ApplicationError as error:
        return problem_json_response(error)
    kept = dict(list(request.session.get(SESSION_CODE_LOGINS, {}).items())[-(SESSION_MAX_IDS - 1) :])
    kept[started.id] = {
        "user_id": started.user_id,
        "method": started.method,
        "key": started.key_card_key,
        "serial_hint": started.key_card_serial_hint,
        "expires_at": started.expires_at.timestamp(),
    }
    request.session[SESSION_CODE_LOGINS] = kept
    body: dict[str, Any] = {"id": started.id, "method": started.method}
    if started.method == "key_card":
        body["key_card"] = {"key": started.key_card_key, "serial_hint": started.key_card_serial_hint}
    return JsonResponse(body)


@require_POST
def login_code_finish(request: HttpRequest, login_id: str) -> JsonResponse:
    """The code typed from the key card or key fob. A wrong code may be typed again (the key number
    asked stays the same until it is answered right); a right one ends the login."""
    kept = request.session.get(SESSION_CODE_LOGINS, {}).get(login_id)
    try:
        if kept is None:
            raise NotFoundError()
        login = services.DemoCodeLogin(
            id=login_id,
            user_id=kept["user_id"],
            method=kept["method"],
            key_card_key=kept["key"],
            key_card_serial_hint=kept["serial_hint"],
            expires_at=datetime.datetime.fromtimestamp(kept["expires_at"], tz=datetime.UTC),
        )
        citizen = services.demo_code_login_finish(login=login, code=request.POST.get("code", ""))
    except ApplicationError as error:
        return problem_json_response(error)
    logins = request.session[SESSION_CODE_LOGINS]
    logins.pop(login_id, None)
    request.session[SESSION_CODE_LOGINS] = logins
    return JsonResponse({"id": login_id, "status": "approved", "name": citizen.name, "user_id": citizen.user_id})


@require_GET
def phone(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/phone.html")

"""Rendering of the hosted pages and the provider's session (single sign-on) in the browser's
Django session. Shared by the authorization endpoint, the hosted login pages and the logout.

The pages carry their own small style sheet and script inline (no external assets), allowed by a
Content-Security-Policy nonce made per response."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from oidc import assurance
from oidc.app_settings import app_settings
from oidc.texts import Texts

SSO_KEY = "oidc.sso"
LOGINS_KEY = "oidc.logins"
LOGINS_MAX = 10


def page(
    request: HttpRequest, template: str, *, language: str, service: str = "", status: int = 200, **context: Any
) -> HttpResponse:
    nonce = secrets.token_urlsafe(16)
    texts = Texts(language, service=service, level=context.pop("level_name", ""))
    response = render(
        request,
        template,
        {"texts": texts, "lang": language, "service": service, "csp_nonce": nonce, **context},
        status=status,
    )
    host = request.get_host()
    response["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        f"connect-src 'self' ws://{host} wss://{host}; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    )
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the pages' own
    # form posts, which CSRF protection refuses; other sites (the client) never see the page URLs.
    response["Referrer-Policy"] = "same-origin"
    add_never_cache_headers(response)
    return response


def level_name(language: str, level: str) -> str:
    return Texts(language).get(assurance.name(level))


# --- the provider's session ----------------------------------------------------------------------


def sso_get(request: HttpRequest) -> dict[str, Any] | None:
    """The citizen logged in at the provider in this browser, while the login is younger than
    SESSION_MAX_AGE: {"citizen": pk, "user_id", "factors", "auth_time": timestamp}."""
    sso = request.session.get(SSO_KEY)
    if not isinstance(sso, dict):
        return None
    age = timezone.now().timestamp() - float(sso.get("auth_time", 0))
    if age > app_settings.SESSION_MAX_AGE:
        return None
    return sso


def sso_auth_time(sso: dict[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(float(sso["auth_time"]), tz=datetime.UTC)


def sso_start(request: HttpRequest, *, citizen_id: int, user_id: str, factors: list[str], auth_time: datetime.datetime) -> None:
    """Remember the login in this browser. The session key changes, so a key planted before the
    login (session fixation) is worth nothing after it."""
    request.session.cycle_key()
    request.session[SSO_KEY] = {
        "citizen": citizen_id,
        "user_id": user_id,
        "factors": sorted(set(factors)),
        "auth_time": auth_time.timestamp(),
    }


def sso_end(request: HttpRequest) -> None:
    """End the login at the provider (RP-initiated logout). Only the provider's keys go: an
    operator's admin login in the same browser is not this login."""
    request.session.pop(SSO_KEY, None)
    request.session.pop(LOGINS_KEY, None)
    request.session.cycle_key()


def login_remember(request: HttpRequest, login_id: str) -> None:
    logins = [login_id, *[known for known in request.session.get(LOGINS_KEY, []) if known != login_id]]
    request.session[LOGINS_KEY] = logins[:LOGINS_MAX]


def login_is_mine(request: HttpRequest, login_id: str) -> bool:
    return login_id in request.session.get(LOGINS_KEY, [])

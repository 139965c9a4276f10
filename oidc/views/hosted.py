"""The authorization endpoint and the hosted login pages (OIDC Core §3.1.2).

The request is validated before any page is shown (§3.1.2.2): an unknown client, or a
redirect_uri not registered exactly, is an error page here (never a redirect); every other error
goes back to the registered redirect_uri with `error` and `state`. Then, if the browser's login
at the provider already satisfies the request (single sign-on), the code is issued at once;
otherwise a LoginTransaction takes the person through the pages: user ID, an authenticator, the
password when the level needs it, consent the first time, and back to the client.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from approvals.services import approval_request_expire_if_overdue
from citizens.models import Citizen
from nemid_app_backend.client_address import client_address
from nemid_app_backend.exceptions import ApplicationError
from oidc import assurance, authenticators, pages, services
from oidc.app_settings import app_settings
from oidc.models import Client, LoginTransaction
from oidc.selectors import consent_covers, login_transaction_get, pairwise_subject
from oidc.server import parameters_problem
from oidc.texts import Texts, language_for

CREDENTIAL_KEYS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "claims",
)
REDIRECT_SCHEMES = ["https", "http"]
# Repeated, these make the request untrustworthy before its client is known: an error page, never
# a redirect (oauthlib's own list for the authorization endpoint).
FATAL_REPEATS = ("client_id", "redirect_uri", "response_type", "scope", "state")


class _OAuth(OAuthLibMixin):
    """django-oauth-toolkit's bridge to oauthlib, configured by OAUTH2_PROVIDER."""


def _redirect(uri: str) -> HttpResponse:
    return OAuth2ResponseRedirect(uri, REDIRECT_SCHEMES)


def _error_redirect(redirect_uri: str, state: str | None, error: str, description: str = "") -> HttpResponse:
    params = [("error", error)]
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    return _redirect(add_params_to_uri(redirect_uri, params))


def _oauthlib_error_redirect(request: HttpRequest, error: OAuth2Error, language: str) -> HttpResponse:
    if not error.redirect_uri:
        return _error_page(request, language)
    return _redirect(add_params_to_uri(error.redirect_uri, error.twotuples))


def _error_page(request: HttpRequest, language: str) -> HttpResponse:
    return pages.page(request, "oidc/error.html", language=language, status=400)


def _ended_page(request: HttpRequest) -> HttpResponse:
    language = language_for(None, request.headers.get("Accept-Language"), app_settings.DEFAULT_LANGUAGE)
    return pages.page(request, "oidc/ended.html", language=language, status=404)


# --- the authorization endpoint -----------------------------------------------------------------


def _session_fits(sso: dict[str, Any], info: dict[str, Any], client: Client, citizen: Citizen) -> bool:
    """Whether the provider's login in this browser may answer this request without asking again."""
    if "login" in info["prompt"]:
        return False
    max_age = info["max_age"]
    if max_age is not None and timezone.now().timestamp() - float(sso["auth_time"]) > max_age:
        return False
    if info["login_hint"] and info["login_hint"] != citizen.user_id:
        return False
    hint_sub = info["id_token_hint_sub"]
    return not (hint_sub and hint_sub != pairwise_subject(citizen=citizen, client_id=client.client_id))


def _issue_code(
    request: HttpRequest, *, stored: dict[str, Any], citizen: Citizen, factors: list[str], auth_time: Any, language: str
) -> HttpResponse:
    """The redirect to the client with the authorization code (django-oauth-toolkit creates it)."""
    credentials = {key: stored[key] for key in CREDENTIAL_KEYS if stored.get(key) is not None}
    credentials.update(citizen=citizen, auth_time=auth_time, acr=assurance.level_of(factors), amr=assurance.amr_of(factors))
    try:
        uri, _, _, _ = _OAuth.get_oauthlib_core().create_authorization_response(
            request, scopes=stored["scopes"], credentials=credentials, allow=True
        )
    except OAuthToolkitError as error:
        return _oauthlib_error_redirect(request, error.oauthlib_error, language)
    return _redirect(uri)


@csrf_exempt  # the client's page sends the browser here (GET, or a POSTed form: OIDC Core §3.1.2.1)
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    language = language_for(params.get("ui_locales"), request.headers.get("Accept-Language"), app_settings.DEFAULT_LANGUAGE)
    if any(len(params.getlist(name)) > 1 for name in FATAL_REPEATS):
        # oauthlib sees these repeated in a query, but the toolkit hands it a POSTed form with
        # only the last value of each.
        return _error_page(request, language)
    try:
        scopes, info = _OAuth.get_oauthlib_core().validate_authorization_request(request)
    except FatalClientError:
        return _error_page(request, language)
    except OAuthToolkitError as error:
        return _oauthlib_error_redirect(request, error.oauthlib_error, language)
    except ValueError:  # a query oauthlib cannot decode: no client to trust yet
        return _error_page(request, language)

    client: Client = info["request"].client
    redirect_uri, state = info["redirect_uri"], info["state"]
    problem = parameters_problem(params)
    if problem is not None:  # a NUL character (no text column or JSON value holds it), or a repeated parameter
        return _error_redirect(redirect_uri, None if "\x00" in (state or "") else state, "invalid_request", problem)
    if not client.relying_party.allows("login"):
        return _error_redirect(redirect_uri, state, "unauthorized_client", "The client is not allowed logins.")
    stored = {key: info.get(key) for key in CREDENTIAL_KEYS}
    stored.update(scopes=list(scopes), login_hint=info["login_hint"])
    prompt = set(info["prompt"])
    required = info["required_acr"]

    sso = pages.sso_get(request)
    citizen = Citizen.objects.filter(pk=sso["citizen"]).first() if sso else None
    if sso is None or citizen is None or not _session_fits(sso, info, client, citizen):
        sso, citizen = None, None
    factors = list(sso["factors"]) if sso else []
    level_ok = sso is not None and assurance.at_least(assurance.level_of(factors), required)
    consent_ok = citizen is not None and "consent" not in prompt and consent_covers(citizen=citizen, client=client, scopes=scopes)

    if "none" in prompt:
        if not level_ok:
            return _error_redirect(redirect_uri, state, "login_required" if sso is None else "interaction_required")
        if not consent_ok:
            return _error_redirect(redirect_uri, state, "consent_required")
    if level_ok and consent_ok:
        assert sso is not None and citizen is not None
        return _issue_code(
            request, stored=stored, citizen=citizen, factors=factors, auth_time=pages.sso_auth_time(sso), language=language
        )
    login = services.login_transaction_start(
        client=client,
        request=stored,
        required_acr=required,
        language=language,
        force_consent="consent" in prompt,
        citizen=citizen,
        factors=factors,
        auth_time=pages.sso_auth_time(sso) if sso else None,
    )
    pages.login_remember(request, str(login.pk))
    return HttpResponseRedirect(reverse("oidc:login", args=[login.pk]))


# --- the hosted login pages -----------------------------------------------------------------------


def _mine(request: HttpRequest, login_id: Any) -> LoginTransaction | None:
    login = login_transaction_get(transaction_id=login_id)
    if login is None or not pages.login_is_mine(request, str(login.pk)):
        return None
    return login


def _methods(login: LoginTransaction) -> list[str]:
    assert login.citizen is not None
    held = authenticators.possession_methods(citizen=login.citizen)
    return [method for method in held if method in assurance.methods_for(login.required_acr)]


def _step(login: LoginTransaction) -> str:
    if login.citizen is None:
        return "user"
    need = assurance.next_step(login.factors, login.required_acr)
    if need == "possession":
        if login.method == assurance.APP and login.approval_id is not None:
            return "app"
        if login.method == assurance.KEY_CARD and login.key_card_key:
            return "key_card"
        if login.method == assurance.KEY_FOB:
            return "key_fob"
        return "method" if _methods(login) else "unavailable"
    if need == assurance.PASSWORD:
        return "password" if authenticators.has_password(citizen=login.citizen) else "unavailable"
    scopes = login.request["scopes"]
    if login.force_consent or not consent_covers(citizen=login.citizen, client=login.client, scopes=scopes):
        return "consent"
    return "done"


def _finish(request: HttpRequest, login: LoginTransaction) -> HttpResponse:
    assert login.citizen is not None and login.auth_time is not None
    pages.sso_start(
        request, citizen_id=login.citizen.pk, user_id=login.citizen.user_id, factors=login.factors, auth_time=login.auth_time
    )
    response = _issue_code(
        request,
        stored=login.request,
        citizen=login.citizen,
        factors=login.factors,
        auth_time=login.auth_time,
        language=login.language,
    )
    services.login_transaction_end(login=login, outcome="authenticated")
    return response


def _render(
    request: HttpRequest, login: LoginTransaction, step: str, *, error: str = "", result: str = "", status: int = 200
) -> HttpResponse:
    service = login.client.relying_party.name
    level = pages.level_name(login.language, login.required_acr)
    texts = Texts(login.language, service=service, level=level)
    context: dict[str, Any] = {
        "login": login,
        "step": step,
        "error_text": texts.get(error) if error else "",
        "result_text": texts.get(f"app_{result}") if result else "",
    }
    if step == "user":
        context["login_hint"] = login.request.get("login_hint") or ""
    elif step == "method":
        context["methods"] = [
            {"value": method, "label": texts.get(f"method_{method}"), "text": texts.get(f"method_{method}_text")}
            for method in _methods(login)
        ]
    elif step == "app":
        context["approval"] = login.approval
    elif step == "key_card":
        context["key_card_text"] = texts.get("key_card_text", key=login.key_card_key, hint=login.key_card_serial_hint)
    elif step == "consent":
        context["scope_texts"] = [texts.get(f"scope_{scope}") for scope in login.request["scopes"]]
    elif step == "unavailable":
        if assurance.next_step(login.factors, login.required_acr) == assurance.PASSWORD:
            reason = "unavailable_password"
        else:
            reason = "unavailable_method" if login.required_acr == assurance.HIGH else "unavailable_none"
        context["reason_text"] = texts.get(reason)
    return pages.page(
        request, f"oidc/step_{step}.html", language=login.language, service=service, level_name=level, status=status, **context
    )


def _show(request: HttpRequest, login: LoginTransaction, *, error: str = "", result: str = "") -> HttpResponse:
    step = _step(login)
    if step == "done":
        return _finish(request, login)
    return _render(request, login, step, error=error, result=result, status=400 if error else 200)


def _refused(
    request: HttpRequest, login: LoginTransaction, step: str, error: ApplicationError | services.LoginStepError
) -> HttpResponse:
    """The step's page again, saying why the attempt was refused: 400, or for a throttled attempt
    (too_many_attempts) 429 with its Retry-After (CONTRACT §9)."""
    throttled = isinstance(error, ApplicationError) and error.http_status == 429
    response = _render(request, login, step, error=error.code, status=429 if throttled else 400)
    if isinstance(error, ApplicationError):
        for name, value in error.headers.items():
            response[name] = value
    return response


def _back_to_page(login: LoginTransaction, **query: str) -> HttpResponse:
    url = reverse("oidc:login", args=[login.pk])
    if query:
        url = add_params_to_uri(url, list(query.items()))
    return HttpResponseRedirect(url)


@require_GET
def login_page(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    result = request.GET.get("result", "")
    return _show(request, login, result=result if result in ("denied", "expired", "failed", "cancelled") else "")


@require_POST
def login_user(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    try:
        login = services.login_set_user(
            login=login, user_id=request.POST.get("user_id", ""), client_address=client_address(request.META)
        )
    except ApplicationError as error:
        return _refused(request, login, "user", error)
    return _back_to_page(login)


@require_POST
def login_restart(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    services.login_forget_user(login=login)
    return _back_to_page(login)


@require_POST
def login_method(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    try:
        login = services.login_choose_method(login=login, method=request.POST.get("method"))
    except (ApplicationError, services.LoginStepError) as error:
        step = _step(login)
        return _refused(request, login, step if step != "done" else "method", error)
    return _back_to_page(login)


@require_POST
def login_app(request: HttpRequest, login_id: str) -> HttpResponse:
    """The browser's script (or the person, without script) says the app has answered."""
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    try:
        status = services.login_app_result(login=login)
    except services.LoginStepError:
        return _back_to_page(login)
    if status in ("denied", "expired", "failed", "cancelled"):
        return _back_to_page(login, result=status)
    return _back_to_page(login)


@sensitive_post_parameters("code")
@require_POST
def login_code(request: HttpRequest, login_id: str) -> HttpResponse:
    """A code from the key card or the key fob."""
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    try:
        login = services.login_verify_code(login=login, code=request.POST.get("code", ""))
    except (ApplicationError, services.LoginStepError) as error:
        login = _mine(request, login_id) or login
        return _refused(request, login, _step(login), error)
    return _back_to_page(login)


@sensitive_post_parameters("password")
@require_POST
def login_password(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    try:
        login = services.login_verify_password(login=login, password=request.POST.get("password", ""))
    except (ApplicationError, services.LoginStepError) as error:
        login = _mine(request, login_id) or login
        return _refused(request, login, _step(login), error)
    return _back_to_page(login)


@require_GET
def login_status(request: HttpRequest, login_id: str) -> JsonResponse:
    """The code app request's status, for the page's script when its WebSocket is unavailable."""
    login = _mine(request, login_id)
    if login is None or login.approval is None:
        return JsonResponse({"status": None}, status=404)
    approval = approval_request_expire_if_overdue(approval=login.approval)
    return JsonResponse({"status": approval.status})


@require_POST
def login_change(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    services.login_change_method(login=login)
    return _back_to_page(login)


@require_POST
def login_consent(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    if _step(login) != "consent":
        return _back_to_page(login)
    if request.POST.get("allow") != "yes":
        return _cancel(request, login, "access_denied")
    assert login.citizen is not None
    services.consent_grant(citizen=login.citizen, client=login.client, scopes=login.request["scopes"])
    login.force_consent = False
    return _finish(request, login)


@require_POST
def login_cancel(request: HttpRequest, login_id: str) -> HttpResponse:
    login = _mine(request, login_id)
    if login is None:
        return _ended_page(request)
    error = "unmet_authentication_requirements" if _step(login) == "unavailable" else "access_denied"
    return _cancel(request, login, error)


def _cancel(request: HttpRequest, login: LoginTransaction, error: str) -> HttpResponse:
    services.login_transaction_end(login=login, outcome=error)
    return _error_redirect(login.request["redirect_uri"], login.request.get("state"), error)

"""The provider's machine endpoints: discovery, token, userinfo, backchannel authentication (CIBA)
and RP-initiated logout. django-oauth-toolkit's views, subclassed where this provider differs.

Errors on the token and backchannel endpoints are the RFCs' JSON `{"error", "error_description"}`.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.exceptions import ClientIdMissmatch, InvalidIDTokenError, InvalidOIDCClientError, OIDCError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.views import ConnectDiscoveryInfoView, RPInitiatedLogoutView, TokenView, UserInfoView
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from oauthlib.common import add_params_to_uri, urlencode

from citizens.models import Citizen
from oidc import assurance, errors, pages
from oidc.app_settings import app_settings
from oidc.ciba import CIBA_GRANT_TYPE, backchannel_request_create, backchannel_request_parse
from oidc.models import AccessToken, Client
from oidc.selectors import client_get, pairwise_subject
from oidc.server import parameters_problem
from oidc.texts import language_for
from signing.services import JwtInvalid, verify_jwt


def _method_not_allowed(allowed: list[str]) -> JsonResponse:
    response = JsonResponse({"error": "invalid_request", "error_description": "Method not allowed."}, status=405)
    response["Allow"] = ", ".join(allowed)
    return response


class DiscoveryView(ConnectDiscoveryInfoView):
    """GET /.well-known/openid-configuration: the toolkit's document, with this provider's issuer,
    JWKS, algorithms, CIBA and assurance levels."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = json.loads(super().get(request, *args, **kwargs).content)
        data.pop("client_id_metadata_document_supported", None)
        data.update(
            issuer=app_settings.ISSUER,
            jwks_uri=request.build_absolute_uri(reverse("jwks")),
            backchannel_authentication_endpoint=request.build_absolute_uri(reverse("oidc:backchannel")),
            scopes_supported=["openid", "profile"],
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=["authorization_code", CIBA_GRANT_TYPE],
            subject_types_supported=["pairwise"],
            id_token_signing_alg_values_supported=["ES256"],
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            claims_supported=[
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "name",
                "birthdate",
                "nemid_decision",
            ],
            acr_values_supported=list(assurance.LEVELS),
            prompt_values_supported=["none", "login", "consent"],
            ui_locales_supported=["da", "en"],
            claims_parameter_supported=False,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
            require_request_uri_registration=False,
            backchannel_token_delivery_modes_supported=["poll", "ping"],
            backchannel_user_code_parameter_supported=False,
            authorization_details_types_supported=["payment"],
        )
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response


class ProviderTokenView(TokenView):
    """POST /oidc/token: authorization_code and urn:openid:params:grant-type:ciba (oidc.server)."""

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _method_not_allowed(["POST"])

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Send application/x-www-form-urlencoded."}, status=400
            )
        # Before the toolkit, which keeps the last of repeated values, and before any query.
        problem = parameters_problem(request.POST) or parameters_problem(request.GET)
        if problem is not None:
            return errors.oauth_error_response(errors.InvalidRequestError(problem))
        return self.authorization_flow_token_response(request)

    @method_decorator(sensitive_post_parameters("client_secret", "code_verifier"))
    def authorization_flow_token_response(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The toolkit's, without reading the new access token back to send `app_authorized`, a
        signal nothing here listens to (one query per token request)."""
        _, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response


class ProviderUserInfoView(UserInfoView):
    """GET or POST /oidc/userinfo with `Authorization: Bearer <access token>`: sub, and name and
    birthdate with the profile scope."""

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _method_not_allowed(["GET", "POST"])


class _OAuth(OAuthLibMixin):
    pass


def _authenticated_client(request: HttpRequest) -> Client:
    """The client, authenticated with client_secret_basic or client_secret_post (the toolkit's
    validator), or InvalidClientError."""
    core = _OAuth.get_oauthlib_core()
    oauth_request = OauthlibRequest(
        request.build_absolute_uri(request.path), "POST", urlencode(core.extract_body(request)), core.extract_headers(request)
    )
    if not core.server.request_validator.authenticate_client(oauth_request):
        raise errors.InvalidClientError(headers={"WWW-Authenticate": 'Basic realm="backchannel"'})
    return oauth_request.client  # type: ignore[no-any-return]


@csrf_exempt
def backchannel(request: HttpRequest) -> HttpResponse:
    """POST /oidc/backchannel: a CIBA backchannel authentication request (CIBA Core §7)."""
    if request.method != "POST":
        return _method_not_allowed(["POST"])
    try:
        if request.content_type != "application/x-www-form-urlencoded":
            raise errors.InvalidRequestError("Send application/x-www-form-urlencoded.")
        problem = parameters_problem(request.POST)
        if problem is not None:
            raise errors.InvalidRequestError(problem)
        client = _authenticated_client(request)
        parsed = backchannel_request_parse(client=client, params=request.POST)
        created = backchannel_request_create(client=client, request=parsed)
    except errors.OAuthError as error:
        return errors.oauth_error_response(error)
    expires_in = max(0, int((created.expires_at - created.created_at).total_seconds()))
    response = JsonResponse({"auth_req_id": created.auth_req_id, "expires_in": expires_in, "interval": created.interval})
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")
class LogoutView(RPInitiatedLogoutView):
    """GET or POST /oidc/logout (OpenID Connect RP-Initiated Logout 1.0): ends the login at the
    provider. The id_token_hint is checked against the service's own keys (any key in the JWKS,
    expired tokens accepted); the person is asked when the hint does not name the citizen who is
    logged in here."""

    template_name = "oidc/logout.html"

    def _language(self) -> str:
        params = self.request.GET if self.request.method == "GET" else self.request.POST
        return language_for(params.get("ui_locales"), self.request.headers.get("Accept-Language"), app_settings.DEFAULT_LANGUAGE)

    def validate_logout_request_user(self, id_token_hint: str | None, client_id: str | None) -> Any:
        if not id_token_hint:
            return None
        try:
            claims = verify_jwt(id_token_hint, require_exp=False)
        except JwtInvalid:
            raise InvalidIDTokenError() from None
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if client_id and client_id not in audiences:
            raise ClientIdMissmatch()
        return _HintedLogin(claims, audiences)

    def get_request_application(self, id_token: Any, client_id: str | None) -> Client | None:
        if client_id:
            client = client_get(client_id=client_id)
            if client is None:
                raise InvalidOIDCClientError()
            return client
        if id_token is not None:
            return Client.objects.filter(client_id__in=id_token.audiences).first()
        return None

    def validate_logout_request(self, id_token_hint: Any, client_id: Any, post_logout_redirect_uri: Any) -> tuple[Any, Any]:
        hinted = self.validate_logout_request_user(id_token_hint, client_id)
        application = self.get_request_application(hinted, client_id)
        self.validate_post_logout_redirect_uri(application, post_logout_redirect_uri)
        return application, hinted

    def must_prompt(self, token_user: Any) -> bool:
        sso = pages.sso_get(self.request)
        if sso is None:
            return False  # no login here to end
        if token_user is None:
            return True
        citizen = Citizen.objects.filter(pk=sso["citizen"]).first()
        return citizen is None or not token_user.names(citizen)

    def do_logout(
        self, application: Any = None, post_logout_redirect_uri: Any = None, state: Any = None, token_user: Any = None
    ) -> HttpResponse:
        sso = pages.sso_get(self.request) or self.request.session.get(pages.SSO_KEY)
        if isinstance(sso, dict):
            AccessToken.objects.filter(user_id=sso.get("citizen")).delete()
        pages.sso_end(self.request)
        if post_logout_redirect_uri:
            target = add_params_to_uri(post_logout_redirect_uri, [("state", state)]) if state else post_logout_redirect_uri
            return OAuth2ResponseRedirect(target, application.get_allowed_schemes())
        return pages.page(self.request, "oidc/logged_out.html", language=self._language())

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        error = context.get("error")
        if isinstance(error, OIDCError):
            return pages.page(self.request, "oidc/error.html", language=self._language(), status=error.status_code)
        return pages.page(self.request, self.template_name, language=self._language(), form=context.get("form"))


class _HintedLogin:
    """Who an id_token_hint names: a pairwise sub at one or more clients."""

    def __init__(self, claims: dict[str, Any], audiences: list[str]) -> None:
        self.sub = claims.get("sub")
        self.audiences = audiences

    def names(self, citizen: Citizen) -> bool:
        return any(pairwise_subject(citizen=citizen, client_id=audience) == self.sub for audience in self.audiences)

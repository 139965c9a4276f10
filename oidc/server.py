"""The oauthlib server behind django-oauth-toolkit's views (OAUTH2_PROVIDER["OAUTH2_SERVER_CLASS"]).

Only what this provider offers: the authorization code grant (PKCE S256 required, no refresh
tokens) and the CIBA grant at the token endpoint, bearer tokens for userinfo. The extra rules of
an authorization request are an oauthlib `pre_auth` validator: it runs after the client and its
redirect URI are validated, so everything it refuses is sent back to the client's redirect URI
with `error` and `state` (OIDC Core §3.1.2.6), never shown to the person.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import QueryDict
from oauthlib.oauth2.rfc6749 import errors, utils
from oauthlib.oauth2.rfc6749.endpoints import AuthorizationEndpoint, ResourceEndpoint, TokenEndpoint
from oauthlib.oauth2.rfc6749.grant_types import AuthorizationCodeGrant as OAuth2AuthorizationCodeGrant
from oauthlib.oauth2.rfc6749.tokens import BearerToken
from oauthlib.openid.connect.core.endpoints.userinfo import UserInfoEndpoint
from oauthlib.openid.connect.core.grant_types import AuthorizationCodeGrant
from oauthlib.openid.connect.core.grant_types.dispatchers import (
    AuthorizationCodeGrantDispatcher,
    AuthorizationTokenGrantDispatcher,
)

from oidc import assurance
from oidc.app_settings import app_settings
from oidc.ciba import CIBA_GRANT_TYPE, CibaGrant
from signing.services import JwtInvalid, verify_jwt

PROMPTS = ("none", "login", "consent")
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_MAX_AGE = re.compile(r"[0-9]{1,10}")  # ASCII digits: str.isdigit() also accepts "²", which int() refuses
NONCE_MAX = 255
STATE_MAX = 2048
LOGIN_HINT_MAX = 64
_PLAIN_NAME = re.compile(r"[a-z_]{1,64}")


def parameters_problem(params: QueryDict) -> str | None:
    """Why a request's parameters are refused before anything reads them, or None: a parameter
    sent more than once (RFC 6749 §3.1, §3.2: parameters MUST NOT be included more than once;
    the toolkit would keep the last value), or one holding a NUL character (no text column can
    hold it, and PostgreSQL refuses it even in a query)."""
    for name, values in params.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return "A parameter holds a NUL character."
    for name, values in params.lists():
        if len(values) > 1:
            return f"{name} is repeated." if _PLAIN_NAME.fullmatch(name) else "A parameter is repeated."
    return None


def _param(request: Any, name: str) -> Any:
    return getattr(request, name, None)


def authorization_request_checks(request: Any) -> dict[str, Any]:
    """This provider's rules for an authorization request (oauthlib pre_auth validator).

    Returns what the hosted pages need beyond oauthlib's request info: the prompt values, max_age,
    the lowest acceptable assurance level, the hints and the preferred languages."""
    response_type = _param(request, "response_type")
    if response_type is None:
        raise errors.MissingResponseTypeError(request=request)
    if response_type != "code":
        raise errors.UnsupportedResponseTypeError(description="Only response_type=code is offered.", request=request)
    if _param(request, "response_mode") not in (None, "query"):
        raise errors.InvalidRequestError(description="Only response_mode=query is offered.", request=request)
    # request.scopes: set from `scope` at the endpoint, and from the stored request when the hosted
    # pages issue the code (oauthlib validates the request again then).
    if "openid" not in (_param(request, "scopes") or utils.scope_to_list(_param(request, "scope")) or []):
        raise errors.InvalidScopeError(description="The scope must include openid.", request=request)
    for name in ("request", "request_uri", "registration"):
        if _param(request, name) is not None:
            raise errors.CustomOAuth2Error(
                error=f"{name}_not_supported", description=f"The {name} parameter is not supported.", request=request
            )
    challenge = _param(request, "code_challenge")
    if challenge is None:
        raise errors.MissingCodeChallengeError(request=request)
    if _param(request, "code_challenge_method") != "S256":
        raise errors.UnsupportedCodeChallengeMethodError(description="code_challenge_method must be S256.", request=request)
    if not _CODE_CHALLENGE.fullmatch(challenge):
        raise errors.InvalidRequestError(description="code_challenge must be 43-128 characters (RFC 7636).", request=request)
    nonce = _param(request, "nonce")
    if nonce is not None and len(nonce) > NONCE_MAX:
        raise errors.InvalidRequestError(description=f"nonce: at most {NONCE_MAX} characters.", request=request)
    state = _param(request, "state")
    if state is not None and len(state) > STATE_MAX:
        raise errors.InvalidRequestError(description=f"state: at most {STATE_MAX} characters.", request=request)
    prompt = (_param(request, "prompt") or "").split()
    unknown = [value for value in prompt if value not in PROMPTS]
    if unknown:
        raise errors.InvalidRequestError(description=f"Unsupported prompt value: {unknown[0]}.", request=request)
    if "none" in prompt and len(prompt) > 1:
        raise errors.InvalidRequestError(description="prompt=none cannot be combined with other values.", request=request)
    max_age = _param(request, "max_age")
    if max_age is not None:
        if not (isinstance(max_age, str) and _MAX_AGE.fullmatch(max_age)):
            raise errors.InvalidRequestError(description="max_age must be a non-negative integer.", request=request)
        max_age = int(max_age)
    try:
        required = assurance.required_level(_param(request, "acr_values"), default=app_settings.DEFAULT_ACR)
    except assurance.UnsupportedAcr:
        raise errors.InvalidRequestError(
            description="acr_values names no supported level (NSIS Low, Substantial, High).", request=request
        ) from None
    login_hint = _param(request, "login_hint")
    if login_hint is not None and len(login_hint) > LOGIN_HINT_MAX:
        raise errors.InvalidRequestError(description="login_hint is too long.", request=request)
    hint_sub = None
    id_token_hint = _param(request, "id_token_hint")
    if id_token_hint is not None:
        try:
            hint_sub = verify_jwt(id_token_hint, audience=request.client_id, require_exp=False).get("sub")
        except JwtInvalid:
            raise errors.InvalidRequestError(description="id_token_hint is not an ID token we issued.", request=request) from None
    return {
        "prompt": sorted(set(prompt)),
        "max_age": max_age,
        "required_acr": required,
        "login_hint": login_hint,
        "id_token_hint_sub": hint_sub,
        "ui_locales": _param(request, "ui_locales") or "",
    }


class Server(AuthorizationEndpoint, TokenEndpoint, ResourceEndpoint, UserInfoEndpoint):
    """What django-oauth-toolkit's views call: authorization code (OpenID Connect), CIBA, bearer tokens."""

    def __init__(
        self,
        request_validator: Any,
        token_expires_in: Any = None,
        token_generator: Any = None,
        refresh_token_generator: Any = None,
        **kwargs: Any,
    ) -> None:
        # kwargs: the toolkit's device-flow settings (verification_uri, interval, ...): not offered here.
        plain = OAuth2AuthorizationCodeGrant(request_validator, refresh_token=False)
        openid = AuthorizationCodeGrant(request_validator, refresh_token=False)
        for grant in (plain, openid):
            grant.custom_validators.pre_auth.append(authorization_request_checks)
        self.bearer = BearerToken(request_validator, token_generator, token_expires_in, refresh_token_generator)
        AuthorizationEndpoint.__init__(
            self,
            default_response_type="code",
            response_types={"code": AuthorizationCodeGrantDispatcher(default_grant=plain, oidc_grant=openid)},
            default_token_type=self.bearer,
        )
        TokenEndpoint.__init__(
            self,
            default_grant_type="authorization_code",
            grant_types={
                "authorization_code": AuthorizationTokenGrantDispatcher(
                    request_validator, default_grant=plain, oidc_grant=openid
                ),
                CIBA_GRANT_TYPE: CibaGrant(request_validator),
            },
            default_token_type=self.bearer,
        )
        ResourceEndpoint.__init__(self, default_token="Bearer", token_types={"Bearer": self.bearer})
        UserInfoEndpoint.__init__(self, request_validator)

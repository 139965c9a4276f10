"""django-oauth-toolkit's request validator, extended at its documented seams
(OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]; oauthlib's RequestValidator methods).

- The resource owner is a citizen: the hosted pages pass it (with how it authenticated) in the
  authorization credentials, `save_authorization_code` keeps it on the grant and `validate_code`
  puts it back on the token request.
- ID tokens are signed ES256 by the service's own rotating keys (signing.services), with the key's
  `kid`, and carry `acr`, `amr`, `auth_time` and a pairwise `sub`.
- `iss` is NEMID_ISSUER.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from typing import Any
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from oidc.app_settings import app_settings
from oidc.models import AccessToken, Grant, IDToken
from oidc.selectors import client_get, pairwise_subject
from signing.services import sign_jwt


class Validator(OAuth2Validator):
    # Claims by scope (OIDC Core §5.4): the ID token's own claims are added in get_id_token_dictionary.
    oidc_claim_scope = {"sub": "openid", "name": "profile", "birthdate": "profile"}

    # --- clients ----------------------------------------------------------------------------

    def validate_client_id(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> bool:
        client = client_get(client_id=client_id)
        if client is None or not client.is_usable(request):
            return False
        request.client = client
        return True

    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        return True  # every client is confidential

    def authenticate_client_id(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> bool:
        return False  # no public clients: a client always authenticates

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        """client_secret_basic, else client_secret_post (RFC 6749 §2.3.1); never both in one request:
        with an Authorization header only the header counts."""
        credentials: tuple[Any, Any] | None = _basic_credentials(request.headers.get("Authorization"))
        if credentials is None:
            if request.headers.get("Authorization"):
                return False
            credentials = (request.client_id, getattr(request, "client_secret", None))
        client_id, secret = credentials
        if not isinstance(client_id, str) or not isinstance(secret, str) or not secret or len(secret) > 512:
            return False
        client = client_get(client_id=client_id)
        if client is None or not client.is_usable(request) or not check_password(secret, client.client_secret):
            return False
        request.client = client
        return True

    # --- authorization endpoint -------------------------------------------------------------

    def get_default_redirect_uri(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> None:
        """redirect_uri is required (OIDC Core §3.1.2.1): none is ever assumed."""
        return None

    def validate_silent_login(self, request: Any) -> bool:
        return True  # prompt=none is decided by the hosted pages, which know the provider's session

    def validate_silent_authorization(self, request: Any) -> bool:
        return True  # likewise consent (oidc.views.hosted)

    def validate_user_match(self, id_token_hint: Any, scopes: Any, claims: Any, request: Any) -> bool:
        return True  # id_token_hint is checked against the session by the hosted pages

    def save_authorization_code(self, client_id: str, code: dict[str, str], request: Any, *args: Any, **kwargs: Any) -> None:
        citizen = getattr(request, "citizen", None)
        if citizen is None:  # only the hosted pages issue codes, always for a citizen
            raise errors.AccessDeniedError(request=request)
        Grant.objects.create(
            application=request.client,
            user=citizen,
            code=code["code"],
            expires=timezone.now() + datetime.timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS),
            redirect_uri=request.redirect_uri,
            scope=" ".join(request.scopes),
            code_challenge=request.code_challenge or "",
            code_challenge_method=request.code_challenge_method or "",
            nonce=request.nonce or "",
            claims=json.dumps(request.claims or {}),
            auth_time=request.auth_time,
            acr=request.acr,
            amr=request.amr,
        )

    # --- token endpoint ---------------------------------------------------------------------

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        grant = _grant_of(code, client)
        if grant is None or grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        request.nonce = grant.nonce or None
        request.claims = json.loads(grant.claims) if grant.claims else None
        request.auth_time = grant.auth_time
        request.acr = grant.acr
        request.amr = grant.amr
        return True

    def confirm_redirect_uri(self, client_id: str, code: str, redirect_uri: str, client: Any, *args: Any, **kwargs: Any) -> bool:
        """RFC 6749 §5.2: a redirect_uri other than the authorization request's is invalid_grant."""
        grant = _grant_of(code, client)
        if grant is None or not grant.redirect_uri_allowed(redirect_uri):
            request = args[0] if args else kwargs.get("request")
            raise errors.InvalidGrantError(description="redirect_uri differs from the authorization request's.", request=request)
        return True

    def validate_grant_type(self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        return grant_type == "authorization_code" and bool(client.redirect_uris)

    # --- ID tokens and claims ---------------------------------------------------------------

    def get_oidc_issuer_endpoint(self, request: Any) -> str:
        return app_settings.ISSUER

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        citizen = request.user
        return {
            "sub": pairwise_subject(citizen=citizen, client_id=request.client.client_id),
            "name": citizen.name,
            "birthdate": citizen.birth_date.isoformat(),
        }

    def get_discovery_claims(self, request: Any) -> list[str]:
        return ["sub", "name", "birthdate", "acr", "amr", "auth_time", "nemid_decision"]

    def get_id_token_dictionary(self, token: Any, token_handler: Any, request: Any) -> tuple[dict[str, Any], datetime.datetime]:
        claims = self.get_oidc_claims(token, token_handler, request)
        expires = timezone.now() + datetime.timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS)
        claims.update(
            iss=self.get_oidc_issuer_endpoint(request),
            exp=int(expires.timestamp()),
            auth_time=int(request.auth_time.timestamp()),
            jti=str(uuid.uuid4()),
            acr=request.acr,
            amr=list(request.amr),
        )
        decision = getattr(request, "nemid_decision", None)
        if decision:
            claims["nemid_decision"] = decision
        return claims, expires

    def _create_access_token(self, expires: Any, request: Any, token: Any, source_refresh_token: Any = None) -> AccessToken:
        """As the toolkit's, but linked to the ID token record this request made (finalize_id_token)
        instead of parsing and verifying the signed ID token it has just made, and looking up its
        client and record again: that was a third of a token request's CPU (docs/performance.md)."""
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=getattr(request, "id_token", None),
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        return access_token

    def finalize_id_token(self, id_token: dict[str, Any], token: Any, token_handler: Any, request: Any) -> str:
        claims, expires = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        signed = sign_jwt(id_token)
        record = IDToken.objects.create(
            user=request.user,
            scope=" ".join(request.scopes),
            expires=expires,
            jti=id_token["jti"],
            application=request.client,
        )
        request.access_token = record
        request.id_token = record
        return signed


_CODE_MAX = Grant._meta.get_field("code").max_length or 255


def _grant_of(code: Any, client: Any) -> Grant | None:
    """The grant of `code` for this client, or None. A value no grant's code can be (too long, or
    holding a NUL character, which PostgreSQL refuses even in a query) is not looked up."""
    if not isinstance(code, str) or not 0 < len(code) <= _CODE_MAX or "\x00" in code:
        return None
    return Grant.objects.select_related("user").filter(code=code, application=client).first()


def _basic_credentials(header: Any) -> tuple[str, str] | None:
    """(client_id, secret) of an `Authorization: Basic` header, each form-urldecoded (RFC 6749
    §2.3.1), or None."""
    if not isinstance(header, str) or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)

"""The errors of the OAuth 2.0, OpenID Connect, CIBA and RFC 9396 specifications, in the service's
one error hierarchy: each is an ApplicationError whose `code` is the RFC's `error` value.

On the OAuth endpoints (token, backchannel authentication) they are rendered as the RFCs' JSON,
`{"error", "error_description"}`; on the authorization endpoint they travel in the redirect.
"""

from __future__ import annotations

from django.http import JsonResponse

from nemid_app_backend.exceptions import OAuthProtocolError


class OAuthError(OAuthProtocolError):
    code = "invalid_request"
    http_status = 400
    title = "Invalid request"
    default_detail = "The request is missing a parameter, has an invalid one, or is otherwise malformed."


def _oauth_error(name: str, code: str, status: int, detail: str) -> type[OAuthError]:
    return type(name, (OAuthError,), {"code": code, "http_status": status, "title": code, "default_detail": detail})


InvalidRequestError = _oauth_error("InvalidRequestError", "invalid_request", 400, OAuthError.default_detail)
InvalidClientError = _oauth_error("InvalidClientError", "invalid_client", 401, "Client authentication failed.")
UnauthorizedClientError = _oauth_error(
    "UnauthorizedClientError", "unauthorized_client", 400, "The client is not registered for this flow."
)
InvalidScopeError = _oauth_error("InvalidScopeError", "invalid_scope", 400, "The scope must include openid and no unknown scope.")
AccessDeniedError = _oauth_error("AccessDeniedError", "access_denied", 403, "The request was denied.")
# CIBA Core 1.0 §13 (backchannel authentication endpoint)
UnknownUserIdError = _oauth_error("UnknownUserIdError", "unknown_user_id", 400, "No user has this login_hint.")
InvalidBindingMessageError = _oauth_error(
    "InvalidBindingMessageError",
    "invalid_binding_message",
    400,
    "binding_message is required: at most 100 printable characters.",
)
# CIBA Core 1.0 §11 (token endpoint, grant_type urn:openid:params:grant-type:ciba)
AuthorizationPendingError = _oauth_error(
    "AuthorizationPendingError", "authorization_pending", 400, "The person has not answered yet."
)
SlowDownError = _oauth_error("SlowDownError", "slow_down", 400, "Poll no more often than the interval.")
ExpiredTokenError = _oauth_error("ExpiredTokenError", "expired_token", 400, "The auth_req_id has expired.")
CibaAccessDeniedError = _oauth_error("CibaAccessDeniedError", "access_denied", 400, "The person did not approve.")
InvalidGrantError = _oauth_error("InvalidGrantError", "invalid_grant", 400, "The auth_req_id is not valid for this client.")
# RFC 9396 §5
InvalidAuthorizationDetailsError = _oauth_error(
    "InvalidAuthorizationDetailsError",
    "invalid_authorization_details",
    400,
    "authorization_details must be one payment: amount, currency and payee.",
)
# OpenID Connect Unmet Authentication Requirements 1.0
UnmetAuthenticationRequirementsError = _oauth_error(
    "UnmetAuthenticationRequirementsError",
    "unmet_authentication_requirements",
    400,
    "The requested assurance level cannot be reached this way.",
)
# Too many requests for one person (CONTRACT §5, §7 limits): 429 with Retry-After.
BackchannelSlowDownError = _oauth_error(
    "BackchannelSlowDownError", "slow_down", 429, "Too many requests for this person; retry later."
)


def oauth_error_response(error: OAuthError) -> JsonResponse:
    """The RFCs' JSON error body, with the headers the error carries (Retry-After, WWW-Authenticate)."""
    response = JsonResponse(error.oauth_body(), status=error.http_status)
    response["Cache-Control"] = "no-store"
    for name, value in error.headers.items():
        response[name] = value
    return response

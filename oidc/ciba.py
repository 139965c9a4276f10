"""CIBA (OpenID Client-Initiated Backchannel Authentication Core 1.0), poll and ping modes.

A backchannel authentication request is a `login` approval on the approval engine (CONTRACT §5-§7:
the same devices, limits, lock, audit and count of pending requests), with number matching off:
the binding message, shown by the client and on the phone, is what the person compares. With
RFC 9396 `authorization_details` of type `payment` it is a `payment` approval instead, signed with
dynamic linking like every payment. The client redeems `auth_req_id` once at the token endpoint
(grant_type urn:openid:params:grant-type:ciba); in ping mode it is told when to, through the
webhook outbox (oidc.hooks).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase

from approvals.models import ApprovalRequest
from approvals.selectors import approval_get_for_relying_party
from approvals.services import BINDING_MESSAGE_MAX, approval_request_create, approval_request_expire_if_overdue
from audit.services import audit_append
from nemid_app_backend import db
from nemid_app_backend import exceptions as app_errors
from nemid_app_backend import secrets as app_secrets
from nemid_app_backend.db import FixedSelect
from nemid_app_backend.parsers import json_loads
from oidc import assurance, errors
from oidc.app_settings import app_settings
from oidc.models import BackchannelRequest, Client

CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
NOTIFICATION_TOKEN_PURPOSE = "ciba-notification-token"
SINGLE_PARAMS = (
    "scope",
    "login_hint",
    "binding_message",
    "requested_expiry",
    "client_notification_token",
    "acr_values",
    "authorization_details",
    "client_id",
)
Status = ApprovalRequest.Status
_EXPIRY = re.compile(r"[0-9]{1,4}")  # ASCII digits: str.isdigit() also accepts "²", which int() refuses


@dataclass(frozen=True)
class BackchannelInput:
    scopes: list[str]
    login_hint: str
    binding_message: str
    expires_in: int
    acr: str
    notification_token: str
    payment: dict[str, str] | None


def _single(params: Any, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise errors.InvalidRequestError(f"{name} is repeated.")
    return values[0] if values else None


def _printable_token(value: str) -> bool:
    return 0 < len(value) <= app_settings.NOTIFICATION_TOKEN_MAX and value.isascii() and value.isprintable() and " " not in value


def _payment_from(authorization_details: str) -> dict[str, str]:
    """RFC 9396 authorization_details: a JSON array with one object of type `payment`."""
    try:
        details = json_loads(authorization_details)
    except ValueError:
        raise errors.InvalidAuthorizationDetailsError("authorization_details is not JSON.") from None
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise errors.InvalidAuthorizationDetailsError("authorization_details must hold exactly one object.")
    detail = details[0]
    if detail.get("type") != "payment":
        raise errors.InvalidAuthorizationDetailsError("The only authorization_details type is payment.")
    payment = {key: value for key, value in detail.items() if key != "type"}
    if set(payment) != {"amount", "currency", "payee"} or not all(isinstance(value, str) for value in payment.values()):
        raise errors.InvalidAuthorizationDetailsError("A payment has exactly amount, currency and payee, as strings.")
    return payment


def backchannel_request_parse(*, client: Client, params: Any) -> BackchannelInput:
    """The parameters of a backchannel authentication request (CIBA Core §7.1), checked; the
    client is already authenticated. Raises the §13 errors."""
    if client.ciba_mode not in Client.CibaMode.values:
        raise errors.UnauthorizedClientError("The client is not registered for CIBA.")
    values = {name: _single(params, name) for name in SINGLE_PARAMS}
    if params.get("request") is not None:
        raise errors.InvalidRequestError("Signed authentication requests (request) are not supported.")
    if params.get("login_hint_token") is not None or params.get("id_token_hint") is not None:
        raise errors.InvalidRequestError("Identify the person with login_hint (their user ID).")
    scopes = (values["scope"] or "").split()
    if "openid" not in scopes or not set(scopes) <= {"openid", "profile"}:
        raise errors.InvalidScopeError()
    login_hint = values["login_hint"]
    if not login_hint:
        raise errors.InvalidRequestError("login_hint (the person's user ID) is required.")
    binding_message = values["binding_message"]
    if not binding_message or len(binding_message) > BINDING_MESSAGE_MAX or not binding_message.isprintable():
        raise errors.InvalidBindingMessageError()
    expiry = values["requested_expiry"]
    expires_in = app_settings.CIBA_DEFAULT_EXPIRY
    if expiry is not None:
        if not (_EXPIRY.fullmatch(expiry) and app_settings.CIBA_MIN_EXPIRY <= int(expiry) <= app_settings.CIBA_MAX_EXPIRY):
            raise errors.InvalidRequestError(
                f"requested_expiry must be {app_settings.CIBA_MIN_EXPIRY}-{app_settings.CIBA_MAX_EXPIRY} seconds."
            )
        expires_in = int(expiry)
    try:
        acr = assurance.required_level(values["acr_values"], default=assurance.LOW)
    except assurance.UnsupportedAcr:
        raise errors.InvalidRequestError("acr_values names no supported level.") from None
    if acr != assurance.LOW:
        # The person answers on the phone alone: no password on a backchannel (oidc.assurance).
        raise errors.UnmetAuthenticationRequirementsError("A backchannel login reaches NSIS Low (the code app alone).")
    token = values["client_notification_token"] or ""
    if client.ciba_mode == Client.CibaMode.PING and not token:
        raise errors.InvalidRequestError("client_notification_token is required in ping mode.")
    if token and not _printable_token(token):
        raise errors.InvalidRequestError("client_notification_token must be 1-1024 printable ASCII characters.")
    details = values["authorization_details"]
    return BackchannelInput(
        scopes=sorted(set(scopes), key=scopes.index),
        login_hint=login_hint,
        binding_message=binding_message,
        expires_in=expires_in,
        acr=acr,
        notification_token=token,
        payment=_payment_from(details) if details is not None else None,
    )


_ENGINE_ERRORS: dict[type[app_errors.ApplicationError], type[errors.OAuthError]] = {
    app_errors.UnknownUserError: errors.UnknownUserIdError,
    app_errors.NoActiveDeviceError: errors.AccessDeniedError,
    app_errors.UserLockedError: errors.AccessDeniedError,
    app_errors.TypeNotAllowedError: errors.UnauthorizedClientError,
    app_errors.InvalidBindingMessageError: errors.InvalidBindingMessageError,
    app_errors.TooManyPendingError: errors.BackchannelSlowDownError,
    app_errors.RateLimitedError: errors.BackchannelSlowDownError,
}


# `ApprovalRequest.origin` of the approvals made here: only these have a BackchannelRequest, so the
# finalized hook (oidc.hooks) reads none for a request of another known origin.
APPROVAL_ORIGIN = "ciba"


def backchannel_request_create(*, client: Client, request: BackchannelInput) -> BackchannelRequest:
    """Create the approval and the request that redeems it; engine refusals become CIBA errors
    (nothing is created then)."""
    try:
        return _backchannel_request_insert(client=client, request=request)
    except app_errors.ValidationError as error:
        raise errors.InvalidAuthorizationDetailsError(_first_message(error)) from error
    except app_errors.ApplicationError as error:
        mapped = _ENGINE_ERRORS.get(type(error))
        if mapped is None:
            raise
        raise mapped(error.detail, headers=error.headers) from error


def _first_message(error: app_errors.ValidationError) -> str:
    for field, messages in error.extra.get("errors", {}).items():
        return f"{field}: {messages[0]}"
    return error.detail


def _backchannel_request_insert(*, client: Client, request: BackchannelInput) -> BackchannelRequest:
    """The approval and the backchannel request that redeems it, committed together.

    An engine refusal is raised after the block has committed, as if approval_request_create had
    been called on its own: what it commits before raising (the audit entry of a prompt-limit
    refusal) must not be rolled back here; nothing else was written then."""
    kind = ApprovalRequest.Type.PAYMENT if request.payment is not None else ApprovalRequest.Type.LOGIN
    with transaction.atomic():
        try:
            approval = approval_request_create(
                relying_party=client.relying_party,
                type=kind,
                login_hint=request.login_hint,
                binding_message=request.binding_message,
                payment=request.payment,
                expires_in=request.expires_in,
                number_matching=False,
                origin=APPROVAL_ORIGIN,
            ).approval
        except app_errors.ApplicationError as error:
            refusal = error  # leave the block normally, so that it commits
        else:
            backchannel = BackchannelRequest(
                auth_req_id=secrets.token_urlsafe(32),
                client=client,
                approval=approval,
                mode=client.ciba_mode,
                scope=" ".join(request.scopes),
                acr=request.acr,
                authorization_details=[{"type": "payment", **request.payment}] if request.payment is not None else None,
                notification_token_encrypted=(
                    app_secrets.encrypt(request.notification_token.encode(), purpose=NOTIFICATION_TOKEN_PURPOSE)
                    if request.notification_token
                    else ""
                ),
                interval=app_settings.CIBA_INTERVAL,
                created_at=approval.created_at,
                expires_at=approval.expires_at,
            )
            db.insert(backchannel)
            return backchannel  # audited as the approval's creation (approval.created, actor rp:<client_id>)
    raise refusal


def notification_token(backchannel: BackchannelRequest) -> str:
    return app_secrets.decrypt(backchannel.notification_token_encrypted, purpose=NOTIFICATION_TOKEN_PURPOSE).decode()


_LOCKED = FixedSelect(BackchannelRequest, where=("auth_req_id", "client"), lock=("self",))

TokenIssuer = Callable[[BackchannelRequest, ApprovalRequest], dict[str, Any]]


def ciba_token_redeem(*, client: Client, auth_req_id: str, issue: TokenIssuer) -> dict[str, Any]:
    """Answer one token request for `auth_req_id` (CIBA Core §10-§11): the tokens `issue` makes,
    once, when the person approved; otherwise the error that says why not.

    Polling faster than `interval` while the person has not answered is `slow_down`, and the
    interval grows by 5 s (RFC 8628 §3.5). The bookkeeping of a poll is committed before its
    error is raised."""
    error: errors.OAuthError | None = None
    with transaction.atomic():
        backchannel = _LOCKED.one(auth_req_id, client.pk) if isinstance(auth_req_id, str) and len(auth_req_id) <= 64 else None
        if backchannel is None or backchannel.tokens_issued_at is not None:
            raise errors.InvalidGrantError()
        approval = approval_get_for_relying_party(relying_party=client.relying_party, approval_id=backchannel.approval_id)
        assert approval is not None  # a backchannel request's approval is its client's relying party's (PROTECT)
        approval = approval_request_expire_if_overdue(approval=approval)
        now = timezone.now()
        if approval.status == Status.PENDING:
            earliest = backchannel.last_polled_at and backchannel.last_polled_at + datetime.timedelta(
                seconds=backchannel.interval
            )
            fields = ["last_polled_at"]
            if earliest and now < earliest:
                backchannel.interval = min(backchannel.interval + 5, app_settings.CIBA_MAX_INTERVAL)
                fields.append("interval")
                error = errors.SlowDownError(f"Wait {backchannel.interval} seconds between token requests.")
            else:
                error = errors.AuthorizationPendingError()
            backchannel.last_polled_at = now
            db.update_fields(backchannel, fields)
        elif approval.status == Status.APPROVED:
            token = issue(backchannel, approval)
            backchannel.tokens_issued_at = now
            db.update_fields(backchannel, ["tokens_issued_at"])
            audit_append(
                action="oidc.ciba_tokens_issued",
                object_type="approval_request",
                object_id=approval.id,
                actor=f"rp:{client.client_id}",
            )
        elif approval.status == Status.EXPIRED:
            error = errors.ExpiredTokenError()
        else:  # denied, cancelled, failed
            error = errors.CibaAccessDeniedError(f"The request was {approval.status}.")
    if error is not None:
        raise error
    return token


class CibaGrant(GrantTypeBase):
    """The token endpoint's grant_type urn:openid:params:grant-type:ciba (an oauthlib grant type)."""

    def create_token_response(self, request: Any, token_handler: Any) -> tuple[dict[str, str], str, int]:
        headers = self._get_default_headers()
        try:
            client = self._authenticated_client(request)
            auth_req_id = getattr(request, "auth_req_id", None)
            if not auth_req_id:
                raise errors.InvalidRequestError("auth_req_id is required.")
            token = ciba_token_redeem(
                client=client,
                auth_req_id=auth_req_id,
                issue=lambda backchannel, approval: self._issue(request, token_handler, backchannel, approval),
            )
        except errors.OAuthError as error:
            headers.update(error.headers)
            return headers, json.dumps(error.oauth_body()), error.http_status
        return headers, json.dumps(token), 200

    def _authenticated_client(self, request: Any) -> Client:
        if not self.request_validator.authenticate_client(request):
            raise errors.InvalidClientError(headers={"WWW-Authenticate": 'Basic realm="token"'})
        client = request.client
        if client.ciba_mode not in Client.CibaMode.values:
            raise errors.UnauthorizedClientError("The client is not registered for CIBA.")
        return client  # type: ignore[no-any-return]

    def _issue(
        self, request: Any, token_handler: Any, backchannel: BackchannelRequest, approval: ApprovalRequest
    ) -> dict[str, Any]:
        """Access token and ID token, inside the transaction that marks auth_req_id used."""
        request.user = approval.citizen
        request.scopes = backchannel.scope.split()
        request.claims = None
        request.nonce = None
        request.auth_time = approval.decided_at
        request.acr = assurance.LOW
        request.amr = assurance.amr_of([assurance.APP])
        request.nemid_decision = approval.device_signature
        token = token_handler.create_token(request, refresh_token=False)
        id_token = {"aud": request.client.client_id, "iat": int(time.time())}
        id_token["at_hash"] = _left_half_hash(token["access_token"])
        token["id_token"] = self.request_validator.finalize_id_token(id_token, token, token_handler, request)
        self.request_validator.save_token(token, request)
        if backchannel.authorization_details is not None:
            token["authorization_details"] = backchannel.authorization_details
        return dict(token)


def _left_half_hash(value: str) -> str:
    """at_hash (OIDC Core §3.1.3.6): the left half of the SHA-256 of the access token, base64url."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

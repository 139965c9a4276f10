"""The one error hierarchy of the service.

Every error a client can see is an ApplicationError with a stable `code` (docs/contract/, whose
table in 00-conventions.md lists every code defined here) and an HTTP status; the DRF exception handler renders it as RFC 9457 problem details. Library
exceptions (cryptography, PyJWT, the ORM) are converted at the module that calls the library.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"
    http_status = 400
    title = "Bad request"
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.http_status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


class ValidationError(ApplicationError):
    code = "validation_error"
    title = "Invalid request"
    default_detail = "The request body or query is invalid."

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None) -> None:
        super().__init__(detail, errors=errors)


class OAuthProtocolError(ApplicationError):
    """An error of the OAuth 2.0 / OpenID Connect / CIBA specifications (docs/contract §10). Its
    `code` is the RFC's `error` value, answered as the RFCs' JSON `{"error", "error_description"}`
    on the provider's endpoints or in a redirect, never as problem details; the contract writes it
    `error=<code>`. The subclasses live with the provider (oidc.errors)."""

    def oauth_body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.detail}


class InternalError(ApplicationError):
    """An unexpected failure: logged with its traceback by the handler, never shown."""

    code = "internal_error"
    http_status = 500
    title = "Internal server error"
    default_detail = "An internal error occurred."


def _error(name: str, code: str, status: int, title: str, detail: str) -> type[ApplicationError]:
    return type(name, (ApplicationError,), {"code": code, "http_status": status, "title": title, "default_detail": detail})


# Authentication and authorisation
AuthenticationRequiredError = _error(
    "AuthenticationRequiredError", "authentication_required", 401, "Unauthorized", "Credentials are required."
)
InvalidApiKeyError = _error("InvalidApiKeyError", "invalid_api_key", 401, "Unauthorized", "The API key is not valid.")
InvalidDeviceTokenError = _error(
    "InvalidDeviceTokenError", "invalid_device_token", 401, "Unauthorized", "The device token is not valid."
)
InvalidSignatureError = _error(
    "InvalidSignatureError",
    "invalid_signature",
    401,
    "Unauthorized",
    "The signed decision's signature is not valid for this device.",
)
TypeNotAllowedError = _error(
    "TypeNotAllowedError", "type_not_allowed", 403, "Forbidden", "The relying party is not allowed this type of request."
)
ForbiddenError = _error("ForbiddenError", "forbidden", 403, "Forbidden", "Forbidden.")
NotFoundError = _error("NotFoundError", "not_found", 404, "Not found", "No such resource.")
MethodNotAllowedError = _error(
    "MethodNotAllowedError", "method_not_allowed", 405, "Method not allowed", "The method is not allowed here."
)
UnsupportedMediaTypeError = _error(
    "UnsupportedMediaTypeError", "unsupported_media_type", 415, "Unsupported media type", "Send application/json."
)
NotAcceptableError = _error("NotAcceptableError", "not_acceptable", 406, "Not acceptable", "Only application/json is produced.")
PayloadTooLargeError = _error(
    "PayloadTooLargeError", "payload_too_large", 413, "Payload too large", "The request body is larger than 64 KiB."
)

# Citizens and enrollment (§2, §3)
InvalidCprError = _error("InvalidCprError", "invalid_cpr", 400, "Invalid CPR number", "The CPR number is not valid.")
UnderageError = _error("UnderageError", "underage", 400, "Not eligible", "The citizen must be 15 years or older.")
AlreadyEnrolledError = _error(
    "AlreadyEnrolledError", "already_enrolled", 409, "Already enrolled", "This CPR number is already enrolled."
)
UnknownUserError = _error("UnknownUserError", "unknown_user", 422, "Unknown user", "No citizen has this user ID.")
# Four eyes on activation codes issued from the admin (docs/contract §3, "The admin")
ActivationCodeRequestPendingError = _error(
    "ActivationCodeRequestPendingError",
    "activation_code_request_pending",
    409,
    "Request pending",
    "An activation code request for this citizen is already waiting for approval.",
)
ActivationCodeRequestNotPendingError = _error(
    "ActivationCodeRequestNotPendingError",
    "activation_code_request_not_pending",
    409,
    "Not pending",
    "The activation code request has already been decided or cancelled.",
)
ActivationCodeRequestExpiredError = _error(
    "ActivationCodeRequestExpiredError",
    "activation_code_request_expired",
    410,
    "Expired",
    "The activation code request has expired; request a new one.",
)
OwnActivationCodeRequestError = _error(
    "OwnActivationCodeRequestError",
    "own_activation_code_request",
    403,
    "Forbidden",
    "An operator cannot decide their own activation code request; another operator must.",
)
ActivationCodeApproverRequiredError = _error(
    "ActivationCodeApproverRequiredError",
    "activation_code_approver_required",
    403,
    "Forbidden",
    "Deciding activation code requests needs the permission citizens.approve_activation_code.",
)
InvalidPanError = _error("InvalidPanError", "invalid_pan", 400, "Invalid card number", "The card number is not valid.")
InvalidArgumentError = _error("InvalidArgumentError", "invalid_argument", 400, "Invalid argument", "An argument is not valid.")
CardAlreadyRegisteredError = _error(
    "CardAlreadyRegisteredError",
    "card_already_registered",
    409,
    "Card already registered",
    "This card number is already registered.",
)
AuditChainBrokenError = _error(
    "AuditChainBrokenError",
    "audit_chain_broken",
    409,
    "Audit log broken",
    "The audit log does not verify.",
)
AuthenticationValueMismatchError = _error(
    "AuthenticationValueMismatchError",
    "authentication_value_mismatch",
    422,
    "Authentication value mismatch",
    "The authentication value does not match the transaction.",
)

# Device registration (§4)
InvalidPublicKeyError = _error(
    "InvalidPublicKeyError",
    "invalid_public_key",
    400,
    "Invalid public key",
    "The public key is not an acceptable P-256 or Ed25519 public JWK.",
)
InvalidProofError = _error("InvalidProofError", "invalid_proof", 400, "Invalid proof", "The proof of possession is not valid.")
InvalidActivationCodeError = _error(
    "InvalidActivationCodeError",
    "invalid_activation_code",
    400,
    "Invalid activation code",
    "The activation code is unknown, used or expired.",
)
DeviceLimitReachedError = _error(
    "DeviceLimitReachedError",
    "device_limit_reached",
    409,
    "Device limit reached",
    "The citizen has the maximum number of active devices.",
)
DeviceAlreadyRegisteredError = _error(
    "DeviceAlreadyRegisteredError",
    "device_already_registered",
    409,
    "Key already registered",
    "This public key is already registered to a device.",
)
TooManyAttemptsError = _error(
    "TooManyAttemptsError", "too_many_attempts", 429, "Too many attempts", "Too many failed attempts; try again later."
)
RegistrationSuspendedError = _error(
    "RegistrationSuspendedError",
    "registration_suspended",
    503,
    "Registrations suspended",
    "Too many failed registrations across the service; registrations are suspended for a while.",
)

# Approvals (§5-§7)
NoActiveDeviceError = _error(
    "NoActiveDeviceError", "no_active_device", 409, "No active device", "The citizen has no active device."
)
UserLockedError = _error("UserLockedError", "user_locked", 423, "User locked", "The citizen is locked.")
InvalidBindingMessageError = _error(
    "InvalidBindingMessageError",
    "invalid_binding_message",
    400,
    "Invalid binding message",
    "The binding message must be at most 100 printable characters.",
)
IdempotencyKeyReusedError = _error(
    "IdempotencyKeyReusedError",
    "idempotency_key_reused",
    422,
    "Idempotency key reused",
    "This Idempotency-Key was used with a different request body.",
)
TooManyPendingError = _error(
    "TooManyPendingError", "too_many_pending", 429, "Too many pending requests", "The citizen has too many pending requests."
)
ApprovalNotPendingError = _error(
    "ApprovalNotPendingError", "approval_not_pending", 409, "Not pending", "The request is no longer pending."
)
ApprovalExpiredError = _error("ApprovalExpiredError", "approval_expired", 410, "Expired", "The request has expired.")
PayloadMismatchError = _error(
    "PayloadMismatchError", "payload_mismatch", 422, "Payload mismatch", "The signed decision does not match the request."
)
VerificationCodeMismatchError = _error(
    "VerificationCodeMismatchError",
    "verification_code_mismatch",
    422,
    "Verification code mismatch",
    "The verification code does not match.",
)
StaleDecisionError = _error(
    "StaleDecisionError", "stale_decision", 422, "Stale decision", "The signed decision's iat is not within 300 seconds of now."
)
NotReadyError = _error("NotReadyError", "not_ready", 503, "Service unavailable", "Not ready.")
RateLimitedError = _error("RateLimitedError", "rate_limited", 429, "Too many requests", "Too many requests; slow down.")

# Authenticators: password, key card, key fob, and the challenge activation of a new phone (§9)
InvalidCredentialsError = _error(
    "InvalidCredentialsError",
    "invalid_credentials",
    400,
    "Invalid credentials",
    "The user ID, password or code is wrong, or the challenge is unknown, used or expired.",
)
InvalidCurrentPasswordError = _error(
    "InvalidCurrentPasswordError", "invalid_credentials", 401, "Unauthorized", "The current password is wrong."
)
WeakPasswordError = _error("WeakPasswordError", "weak_password", 400, "Weak password", "Choose another password.")
AuthenticatorNotAllowedError = _error(
    "AuthenticatorNotAllowedError",
    "authenticator_not_allowed",
    403,
    "Authenticator not allowed",
    "A key card never approves a payment or a 3-D Secure authentication.",
)
UnknownKeyCardError = _error(
    "UnknownKeyCardError", "unknown_key_card", 404, "Unknown key card", "No key card has this id or serial."
)
UnknownKeyFobError = _error("UnknownKeyFobError", "unknown_key_fob", 404, "Unknown key fob", "No key fob has this serial.")
KeyFobAlreadyAssignedError = _error(
    "KeyFobAlreadyAssignedError",
    "key_fob_already_assigned",
    409,
    "Key fob already assigned",
    "This key fob is assigned to another citizen or revoked.",
)
InvalidPskcError = _error(
    "InvalidPskcError", "invalid_pskc", 400, "Invalid PSKC file", "The file is not a usable RFC 6030 PSKC document."
)
TooManyConcurrentRequestsError = _error(
    "TooManyConcurrentRequestsError",
    "too_many_concurrent_requests",
    429,
    "Too many concurrent requests",
    "Too many long polls or WebSockets of this client are open at once.",
)

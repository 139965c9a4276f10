"""Writes of the OpenID provider: client registration (one relying party, one client), consent,
and the steps of a hosted-page login.

A hosted-page login (LoginTransaction) moves forward only through these services: the user ID,
then a possession authenticator the citizen picks (the code app with number matching, a key card
or a key fob), then the password when the requested level needs it (oidc.assurance). The code app
path is a `login` approval on the approval engine, so the same devices, limits, lock and audit
apply as to any relying party's login request.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import clear_expired

from approvals.models import ApprovalRequest
from approvals.services import approval_request_cancel, approval_request_create, approval_request_expire_if_overdue
from audit.services import audit_append
from citizens.locks import citizen_record_success
from citizens.models import Citizen
from citizens.services import citizen_password_verify
from keycards.services import key_card_challenge, key_card_code_verify
from keyfobs.services import key_fob_code_verify
from nemid_app_backend.exceptions import ApplicationError, NotFoundError, UnknownUserError, ValidationError
from nemid_app_backend.outbound import validate_outbound_url
from oidc import assurance, authenticators, throttle
from oidc.app_settings import app_settings
from oidc.models import Client, Consent, LoginTransaction
from oidc.selectors import citizen_get_by_user_id
from relying_parties.models import RelyingParty
from relying_parties.services import relying_party_create

REDIRECT_URI_MAX = 2000
REDIRECT_URIS_MAX = 20
CLIENT_SECRET_BYTES = 32
Status = ApprovalRequest.Status


# --- client registration ----------------------------------------------------------------------


def _is_loopback(hostname: str) -> bool:
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(value: Any, *, field: str = "redirect_uris") -> str:
    """A redirect URI: absolute https, or http on a loopback address (RFC 8252 §7.3); no fragment,
    no credentials, no wildcard. Matched exactly later (any port on 127.0.0.1 and [::1])."""

    def invalid(message: str) -> ValidationError:
        return ValidationError({field: [f"{value!r}: {message}"[:300]]})

    if not isinstance(value, str) or not value or len(value) > REDIRECT_URI_MAX:
        raise invalid(f"an absolute URL of at most {REDIRECT_URI_MAX} characters")
    if not value.isascii() or not value.isprintable() or " " in value:
        raise invalid("printable ASCII without spaces")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise invalid("not a valid URL") from None
    hostname = parts.hostname or ""
    if "#" in value:
        raise invalid("must not contain a fragment")
    if parts.username is not None or parts.password is not None:
        raise invalid("must not contain credentials")
    if not hostname or "*" in hostname:
        raise invalid("needs a host (no wildcard)")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and _is_loopback(hostname):
        return value
    raise invalid("must use https (plain http only on a loopback address such as 127.0.0.1)")


def validate_redirect_uris(values: Iterable[Any] | None, *, field: str = "redirect_uris") -> list[str]:
    uris: list[str] = []
    for value in values or ():
        uri = validate_redirect_uri(value, field=field)
        if uri not in uris:
            uris.append(uri)
    if len(uris) > REDIRECT_URIS_MAX:
        raise ValidationError({field: [f"At most {REDIRECT_URIS_MAX}."]})
    return uris


def _clean_ciba(mode: Any, endpoint: Any) -> tuple[str, str]:
    mode = mode or ""
    endpoint = endpoint or ""
    if mode not in ("", *Client.CibaMode.values):
        raise ValidationError({"ciba_mode": ["poll or ping."]})
    if mode == Client.CibaMode.PING and not endpoint:
        raise ValidationError({"ciba_notification_endpoint": ["Required for ping mode."]})
    if endpoint and mode != Client.CibaMode.PING:
        raise ValidationError({"ciba_notification_endpoint": ["Only ping mode notifies an endpoint."]})
    if endpoint:
        endpoint = validate_outbound_url(endpoint, field="ciba_notification_endpoint")
    return mode, endpoint


def _new_client_secret() -> str:
    return secrets.token_urlsafe(CLIENT_SECRET_BYTES)  # 256 bits


@transaction.atomic
def oidc_client_create(
    *,
    relying_party: RelyingParty,
    actor: str,
    redirect_uris: Iterable[Any] | None = None,
    post_logout_redirect_uris: Iterable[Any] | None = None,
    ciba_mode: Any = "",
    ciba_notification_endpoint: Any = "",
) -> tuple[Client, str]:
    """The relying party's OpenID Connect client (same client_id); returns (client, clear secret),
    the secret to show once (it is stored hashed)."""
    uris = validate_redirect_uris(redirect_uris)
    logout_uris = validate_redirect_uris(post_logout_redirect_uris, field="post_logout_redirect_uris")
    mode, endpoint = _clean_ciba(ciba_mode, ciba_notification_endpoint)
    secret = _new_client_secret()
    client = Client(
        relying_party=relying_party,
        client_id=relying_party.client_id,
        client_type=Client.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        client_secret=secret,  # hashed on save (ClientSecretField, oidc.hashers)
        redirect_uris=" ".join(uris),
        post_logout_redirect_uris=" ".join(logout_uris),
        ciba_mode=mode,
        ciba_notification_endpoint=endpoint,
    )
    client.save()
    audit_append(
        action="oidc.client_created",
        object_type="relying_party",
        object_id=relying_party.client_id,
        actor=actor,
        data={
            "redirect_uris": uris,
            "post_logout_redirect_uris": logout_uris,
            "ciba_mode": mode,
            "ciba_notification_endpoint": endpoint,
        },
    )
    return client, secret


@transaction.atomic
def oidc_client_update(
    *,
    client: Client,
    actor: str,
    redirect_uris: Iterable[Any] | None = None,
    post_logout_redirect_uris: Iterable[Any] | None = None,
    ciba_mode: Any = None,
    ciba_notification_endpoint: Any = None,
) -> Client:
    """Change the given settings (None leaves one as it is); audited."""
    client = Client.objects.select_for_update().get(pk=client.pk)
    changes: dict[str, Any] = {}
    if redirect_uris is not None:
        changes["redirect_uris"] = " ".join(validate_redirect_uris(redirect_uris))
    if post_logout_redirect_uris is not None:
        changes["post_logout_redirect_uris"] = " ".join(
            validate_redirect_uris(post_logout_redirect_uris, field="post_logout_redirect_uris")
        )
    if ciba_mode is not None or ciba_notification_endpoint is not None:
        mode, endpoint = _clean_ciba(
            client.ciba_mode if ciba_mode is None else ciba_mode,
            client.ciba_notification_endpoint if ciba_notification_endpoint is None else ciba_notification_endpoint,
        )
        changes.update(ciba_mode=mode, ciba_notification_endpoint=endpoint)
    changes = {field: value for field, value in changes.items() if getattr(client, field) != value}
    if not changes:
        return client
    for field, value in changes.items():
        setattr(client, field, value)
    client.save(update_fields=[*changes, "updated"])
    audit_append(action="oidc.client_updated", object_type="relying_party", object_id=client.client_id, actor=actor, data=changes)
    return client


@transaction.atomic
def oidc_client_rotate_secret(*, client: Client, actor: str) -> tuple[Client, str]:
    """A new client secret; the old one stops working at once. Returns (client, clear secret)."""
    client = Client.objects.select_for_update().get(pk=client.pk)
    secret = _new_client_secret()
    client.client_secret = secret
    client.save(update_fields=["client_secret", "updated"])
    audit_append(action="oidc.client_secret_rotated", object_type="relying_party", object_id=client.client_id, actor=actor)
    return client, secret


@dataclass(frozen=True)
class Registration:
    relying_party: RelyingParty
    api_key: str
    webhook_secret: str
    client: Client
    client_secret: str


@transaction.atomic
def relying_party_register(
    *,
    name: Any,
    actor: str,
    callback_url: Any = "",
    allowed_types: Any = None,
    redirect_uris: Iterable[Any] | None = None,
    post_logout_redirect_uris: Iterable[Any] | None = None,
    ciba_mode: Any = "",
    ciba_notification_endpoint: Any = "",
) -> Registration:
    """A relying party and its OpenID Connect client in one step: one client_id, one record for
    the operator (API key, webhook secret, client secret, redirect URIs). Secrets are returned
    in clear once."""
    rp, api_key, webhook_secret = relying_party_create(
        name=name, callback_url=callback_url, allowed_types=allowed_types, actor=actor
    )
    client, client_secret = oidc_client_create(
        relying_party=rp,
        actor=actor,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        ciba_mode=ciba_mode,
        ciba_notification_endpoint=ciba_notification_endpoint,
    )
    return Registration(rp, api_key, webhook_secret, client, client_secret)


# --- consent ------------------------------------------------------------------------------------


@transaction.atomic
def consent_grant(*, citizen: Citizen, client: Client, scopes: list[str]) -> Consent:
    consent, _ = Consent.objects.select_for_update().get_or_create(
        citizen=citizen, client=client, defaults={"scopes": [], "granted_at": timezone.now()}
    )
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    consent.granted_at = timezone.now()
    consent.save(update_fields=["scopes", "granted_at"])
    audit_append(
        action="oidc.consent_granted",
        object_type="citizen",
        object_id=citizen.user_id,
        actor=f"citizen:{citizen.user_id}",
        data={"client_id": client.client_id, "scopes": consent.scopes},
    )
    return consent


# --- hosted-page logins -------------------------------------------------------------------------


class LoginStepError(Exception):
    """A step of a hosted-page login that cannot go on: a message on the page (`code` names it in
    oidc.texts), not an API error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def login_transaction_start(
    *,
    client: Client,
    request: dict[str, Any],
    required_acr: str,
    language: str,
    force_consent: bool,
    citizen: Citizen | None = None,
    factors: Iterable[str] = (),
    auth_time: datetime.datetime | None = None,
) -> LoginTransaction:
    """A login through the hosted pages for a validated authorization request. With a citizen and
    factors (from the provider's session) it only asks for what the requested level still needs."""
    now = timezone.now()
    return LoginTransaction.objects.create(
        client=client,
        request=request,
        required_acr=required_acr,
        language=language,
        force_consent=force_consent,
        citizen=citizen,
        factors=list(factors),
        auth_time=auth_time,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=app_settings.LOGIN_TRANSACTION_TTL),
    )


def _locked(transaction_id: Any) -> LoginTransaction:
    login = (
        LoginTransaction.objects.select_for_update(of=("self",))
        .select_related("client__relying_party")
        .filter(pk=transaction_id, status=LoginTransaction.Status.ACTIVE, expires_at__gt=timezone.now())
        .first()
    )
    if login is None:
        raise NotFoundError("This login has ended.")
    return login


def _reset_possession(login: LoginTransaction) -> None:
    login.method = ""
    login.approval = None
    login.key_card_key = ""
    login.key_card_serial_hint = ""


@transaction.atomic
def login_set_user(*, login: LoginTransaction, user_id: Any, client_address: str) -> LoginTransaction:
    """The person says who they are: the user ID. A new user ID starts the login over. Unknown
    user IDs are counted per client address (oidc.throttle)."""
    throttle.unknown_user_check(address=client_address)
    login = _locked(login.pk)
    user_id = user_id.strip() if isinstance(user_id, str) else ""
    citizen = citizen_get_by_user_id(user_id=user_id)
    if citizen is None:
        throttle.unknown_user_record(address=client_address)
        raise UnknownUserError()
    if login.citizen_id != citizen.pk:
        login.citizen = citizen
        login.factors = []
        login.auth_time = None
        _reset_possession(login)
        login.save(
            update_fields=["citizen", "factors", "auth_time", "method", "approval", "key_card_key", "key_card_serial_hint"]
        )
    return login


@transaction.atomic
def login_forget_user(*, login: LoginTransaction) -> LoginTransaction:
    """ "Not you?": back to the user ID, forgetting what was passed for the previous one."""
    login = _locked(login.pk)
    login.citizen = None
    login.factors = []
    login.auth_time = None
    _reset_possession(login)
    login.save(update_fields=["citizen", "factors", "auth_time", "method", "approval", "key_card_key", "key_card_serial_hint"])
    return login


def _binding_message(login: LoginTransaction) -> str:
    name = login.client.relying_party.name
    text = f"Log på {name}" if login.language == "da" else f"Log in to {name}"
    return text[:100]


def login_choose_method(*, login: LoginTransaction, method: Any) -> LoginTransaction:
    """Start the possession authenticator the person picked. The code app: a login approval with
    number matching (one pending at a time per login)."""
    if login.citizen is None:
        raise LoginStepError(code="no_user")
    allowed = set(authenticators.possession_methods(citizen=login.citizen)) & set(assurance.methods_for(login.required_acr))
    if method not in allowed:
        raise LoginStepError(code="method_unavailable")
    if method == assurance.APP:
        return _login_start_app(login=login)
    if method == assurance.KEY_CARD:
        return _login_start_key_card(login=login)
    return _login_start_key_fob(login=login)


def _login_start_app(*, login: LoginTransaction) -> LoginTransaction:
    if login.method == assurance.APP and login.approval is not None and login.approval.status == Status.PENDING:
        return login
    citizen = login.citizen
    assert citizen is not None
    rp = login.client.relying_party
    with transaction.atomic():
        login = _locked(login.pk)
        try:
            approval = approval_request_create(
                relying_party=rp,
                type=ApprovalRequest.Type.LOGIN,
                login_hint=citizen.user_id,
                binding_message=_binding_message(login),
                expires_in=app_settings.APP_LOGIN_EXPIRES_IN,
                number_matching=True,
            ).approval
        except ApplicationError as error:
            # Raised after the block commits, as if approval_request_create had been called on its
            # own: the audit entry of a prompt-limit refusal, committed by it, must stay.
            refusal = error
        else:
            _reset_possession(login)
            login.method = assurance.APP
            login.approval = approval
            login.save(update_fields=["method", "approval", "key_card_key", "key_card_serial_hint"])
            return login
    raise refusal


def _login_start_key_card(*, login: LoginTransaction) -> LoginTransaction:
    """ "Key 0042 on the card ending 123": the key number the key card service asks for."""
    assert login.citizen is not None
    challenge = key_card_challenge(citizen=login.citizen)
    if challenge is None:
        raise LoginStepError(code="method_unavailable")
    approval = login.approval
    with transaction.atomic():
        login = _locked(login.pk)
        _reset_possession(login)
        login.method = assurance.KEY_CARD
        login.key_card_key = challenge.key
        login.key_card_serial_hint = challenge.serial_hint
        login.save(update_fields=["method", "approval", "key_card_key", "key_card_serial_hint"])
    _cancel_pending(login, approval)
    return login


def _login_start_key_fob(*, login: LoginTransaction) -> LoginTransaction:
    approval = login.approval
    with transaction.atomic():
        login = _locked(login.pk)
        _reset_possession(login)
        login.method = assurance.KEY_FOB
        login.save(update_fields=["method", "approval", "key_card_key", "key_card_serial_hint"])
    _cancel_pending(login, approval)
    return login


def login_verify_code(*, login: LoginTransaction, code: Any) -> LoginTransaction:
    """The code the person typed from their key card or key fob. The owner's service checks it,
    uses it, and counts a wrong one (invalid_credentials) toward its throttle and the §7 lock;
    a throttled or locked attempt is too_many_attempts and is not checked. Not atomic: a failure
    is committed by the owner's service before its error is raised."""
    citizen = login.citizen
    if citizen is None or login.method not in (assurance.KEY_CARD, assurance.KEY_FOB):
        raise LoginStepError(code="method_unavailable")
    if login.method == assurance.KEY_CARD:
        key_card_code_verify(citizen=citizen, key=login.key_card_key, code=code, purpose="login")
    else:
        key_fob_code_verify(citizen=citizen, code=code)
    with transaction.atomic():
        login = _locked(login.pk)
        _pass(login, login.method)
    return login


def login_verify_password(*, login: LoginTransaction, password: Any) -> LoginTransaction:
    """The password, when the level asks for it (after a possession authenticator). The citizens
    service checks, counts and throttles as for the key card."""
    citizen = login.citizen
    if citizen is None or assurance.next_step(login.factors, login.required_acr) != assurance.PASSWORD:
        raise LoginStepError(code="login_step_failed")
    citizen_password_verify(citizen=citizen, password=password)
    with transaction.atomic():
        login = _locked(login.pk)
        _pass(login, assurance.PASSWORD)
    return login


def _cancel_pending(login: LoginTransaction, approval: ApprovalRequest | None) -> None:
    if approval is not None and approval.status == Status.PENDING:
        try:
            approval_request_cancel(relying_party=login.client.relying_party, approval_id=approval.pk)
        except ApplicationError:
            pass  # answered or expired meanwhile: nothing to cancel


def _pass(login: LoginTransaction, factor: str) -> None:
    login.factors = sorted({*login.factors, factor})
    login.auth_time = timezone.now()
    _reset_possession(login)
    login.save(update_fields=["factors", "auth_time", "method", "approval", "key_card_key", "key_card_serial_hint"])


def login_app_result(*, login: LoginTransaction) -> str:
    """What became of the code app request: the approval's status. Approved by the citizen's own
    device for this login: the code app factor is passed. Any other final status: pick again."""
    if login.approval_id is None:
        raise LoginStepError(code="no_request")
    approval = approval_request_expire_if_overdue(approval=login.approval)  # type: ignore[arg-type]
    if approval.status == Status.PENDING:
        return str(approval.status)
    with transaction.atomic():
        login = _locked(login.pk)
        if login.approval_id != approval.pk:
            return str(approval.status)
        if approval.status == Status.APPROVED and approval.citizen_id == login.citizen_id:
            _pass(login, assurance.APP)
        else:
            _reset_possession(login)
            login.save(update_fields=["method", "approval", "key_card_key", "key_card_serial_hint"])
    return str(approval.status)


def login_change_method(*, login: LoginTransaction) -> LoginTransaction:
    """Back to the choice of authenticator; a pending code app request is cancelled."""
    approval = login.approval
    with transaction.atomic():
        login = _locked(login.pk)
        _reset_possession(login)
        login.save(update_fields=["method", "approval", "key_card_key", "key_card_serial_hint"])
    _cancel_pending(login, approval)
    return login


def login_transaction_end(*, login: LoginTransaction, outcome: str) -> None:
    """The login is over (a code was issued, or the person cancelled): its URL stops working."""
    with transaction.atomic():
        login = _locked(login.pk)
        login.status = LoginTransaction.Status.DONE
        login.save(update_fields=["status"])
        citizen = login.citizen
        if outcome == "authenticated" and citizen is not None:
            # The whole authentication succeeded: the §7 count of failed attempts starts over.
            citizen_record_success(citizen_id=citizen.pk)
            audit_append(
                action="oidc.login",
                object_type="citizen",
                object_id=citizen.user_id,
                actor=f"citizen:{citizen.user_id}",
                data={
                    "client_id": login.client.client_id,
                    "acr": assurance.level_of(login.factors),
                    "amr": assurance.amr_of(login.factors),
                },
            )
    _cancel_pending(login, login.approval)


def oidc_records_purge(*, older_than: datetime.timedelta = datetime.timedelta(days=1)) -> int:
    """Forget what has run out: hosted-page logins expired more than `older_than` ago, and the
    toolkit's expired codes and tokens (its clear_expired). Returns how many logins went."""
    deleted, _ = LoginTransaction.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    clear_expired()
    return deleted

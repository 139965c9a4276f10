"""The demo relying party's side: a webshop that asks for 3-D Secure at checkout and a site that
logs people in, with the code app or with a key card or key fob code. It calls the same services the
HTTP API and the hosted login pages call, server-side, as the relying party marked as the demo's
webshop (demo.models.DemoRelyingParty; created on first use if `seed_demo` has not made it). And
what the demo citizen's key fob shows now, for `demo_fob_code`."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.app_settings import app_settings as approval_settings
from approvals.models import ApprovalRequest
from approvals.services import approval_request_create
from citizens.locks import citizen_record_success
from citizens.models import Citizen
from citizens.selectors import citizen_find_by_cpr
from demo.models import DemoRelyingParty
from keycards.models import CODES_PER_CARD
from keycards.services import key_card_challenge, key_card_code_verify
from keyfobs import totp
from keyfobs.selectors import key_fob_of_citizen
from keyfobs.services import key_fob_code_verify, key_fob_seed
from nemid_app_backend.exceptions import (
    InvalidCredentialsError,
    NoActiveDeviceError,
    NotFoundError,
    RateLimitedError,
    TooManyPendingError,
    UnknownUserError,
    UserLockedError,
    ValidationError,
)
from nemid_app_backend.secrets import keyed_hash
from relying_parties.models import APPROVAL_TYPES, RelyingParty
from relying_parties.services import relying_party_create
from threeds.models import ThreeDSAuthentication
from threeds.services import threeds_authentication_create

DEMO_RP_NAME = "Webshop ApS"
DEMO_RP_TYPES = list(APPROVAL_TYPES)
DEMO_ACTOR = "demo"
TEST_CARD = "4111 1111 1111 1111"
DEMO_CPR = "010190-1234"  # a made-up number (no modulus-11 check since 2007)
DEMO_CITIZEN_NAME = "Jens Hansen"
DEMO_PAN = "4111111111111111"  # the well-known Visa test card number


@dataclass(frozen=True)
class BasketLine:
    name: str
    amount_minor: int


@dataclass(frozen=True)
class Basket:
    lines: tuple[BasketLine, ...]
    currency: str = "DKK"
    currency_number: str = "208"
    exponent: int = 2

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    def major(self, minor: int) -> str:
        whole, fraction = divmod(minor, 10**self.exponent)
        return f"{whole}.{fraction:0{self.exponent}d}"

    @property
    def rows(self) -> list[tuple[str, str]]:
        return [(line.name, self.major(line.amount_minor)) for line in self.lines]

    @property
    def total(self) -> str:
        return self.major(self.total_minor)


BASKET = Basket(lines=(BasketLine("Wool blanket", 14995),))


def demo_relying_party_find() -> RelyingParty | None:
    marker = DemoRelyingParty.objects.select_related("relying_party").filter(role=DemoRelyingParty.Role.WEBSHOP).first()
    return marker.relying_party if marker else None


def demo_relying_party_create(*, actor: str) -> tuple[RelyingParty, str]:
    """Create the demo's webshop and mark it; returns it with its API key (shown this once)."""
    try:
        with transaction.atomic():
            rp, api_key, _ = relying_party_create(name=DEMO_RP_NAME, allowed_types=DEMO_RP_TYPES, actor=actor)
            DemoRelyingParty.objects.create(role=DemoRelyingParty.Role.WEBSHOP, relying_party=rp)
    except IntegrityError:  # another request marked one first: use it
        found = demo_relying_party_find()
        if found is None:
            raise
        return found, ""
    return rp, api_key


def demo_relying_party() -> RelyingParty:
    return demo_relying_party_find() or demo_relying_party_create(actor=DEMO_ACTOR)[0]


def demo_checkout_start(*, pan: Any) -> ThreeDSAuthentication:
    """Pay for the basket: the webshop's 3DS Server sends an AReq for the card (threeds service)."""
    rp = demo_relying_party()
    card_number = "".join(pan.split()) if isinstance(pan, str) else pan
    areq = {
        "messageVersion": "2.2.0",
        "threeDSServerTransID": str(uuid.uuid4()),
        "acctNumber": card_number,
        "purchaseAmount": str(BASKET.total_minor),
        "purchaseCurrency": BASKET.currency_number,
        "purchaseExponent": str(BASKET.exponent),
        "merchantName": rp.name[:40],
        "threeDSRequestorDecReqInd": "Y",
        "threeDSRequestorDecMaxTime": "00005",
    }
    return threeds_authentication_create(relying_party=rp, data=areq, actor="demo:webshop")


USER_ID_FORMAT = re.compile(r"[0-9]{10}")


@dataclass(frozen=True)
class DemoLogin:
    """A login the page waits on. A decoy (`approval` None) answers exactly like a real request that
    nobody answers, so the page never tells whether a user ID exists, has a phone or is locked."""

    id: str
    verification_code: str
    approval: ApprovalRequest | None
    expires_at: datetime


def demo_login_start(*, user_id: Any) -> DemoLogin:
    """Log in with the app: a login request with number matching (approval engine)."""
    user_id = user_id.strip() if isinstance(user_id, str) else ""
    if not USER_ID_FORMAT.fullmatch(user_id):
        raise ValidationError({"user_id": ["A user ID is 10 digits."]})
    rp = demo_relying_party()
    try:
        approval = approval_request_create(
            relying_party=rp, type=ApprovalRequest.Type.LOGIN, login_hint=user_id, binding_message=f"Log in to {rp.name}"
        ).approval
    except (UnknownUserError, NoActiveDeviceError, UserLockedError, TooManyPendingError, RateLimitedError):
        # Whatever depends on who the user ID is looks alike here.
        expires_in = approval_settings.DEFAULT_EXPIRES_IN["login"]
        return DemoLogin(
            id=str(uuid.uuid4()),
            verification_code=f"{secrets.randbelow(100):02d}",
            approval=None,
            expires_at=timezone.now() + timedelta(seconds=expires_in),
        )
    return DemoLogin(
        id=str(approval.id), verification_code=approval.verification_code, approval=approval, expires_at=approval.expires_at
    )


# --- logging in with a key card or key fob code ------------------------------------------------------

CODE_LOGIN_METHODS = ("key_card", "key_fob")
CODE_LOGIN_TTL = 300  # seconds, as a device challenge lives (docs/contract §9)
DECOY_PURPOSE = "demo-code-login-decoy"


@dataclass(frozen=True)
class DemoCodeLogin:
    """A login the page finishes with a code from a key card (the key number asked) or a key fob.
    A user ID without a citizen, or without that authenticator, gets the same shape: a card hint
    and key number derived from the user ID, stable as a real card's are until used; every code
    typed for it is wrong. So the page never tells who has what."""

    id: str
    user_id: str
    method: str
    key_card_key: str
    key_card_serial_hint: str
    expires_at: datetime


def _decoy_key_card(user_id: str) -> tuple[str, str]:
    """(serial hint, key number) for a user ID that has no usable key card: stable per user ID."""
    digest = int(keyed_hash(DECOY_PURPOSE, user_id)[:16], 16)
    return f"{digest % 1000:03d}", f"{(digest >> 10) % CODES_PER_CARD + 1:04d}"


def demo_code_login_start(*, user_id: Any, method: Any) -> DemoCodeLogin:
    """Log in with a key card or key fob code: for a key card, the key number the card's service asks."""
    user_id = user_id.strip() if isinstance(user_id, str) else ""
    if not USER_ID_FORMAT.fullmatch(user_id):
        raise ValidationError({"user_id": ["A user ID is 10 digits."]})
    if method not in CODE_LOGIN_METHODS:
        raise ValidationError({"method": [f"One of: {', '.join(CODE_LOGIN_METHODS)}."]})
    serial_hint, key = "", ""
    if method == "key_card":
        citizen = Citizen.objects.filter(user_id=user_id).first()
        asked = key_card_challenge(citizen=citizen) if citizen is not None else None
        serial_hint, key = (asked.serial_hint, asked.key) if asked is not None else _decoy_key_card(user_id)
    return DemoCodeLogin(
        id=str(uuid.uuid4()),
        user_id=user_id,
        method=method,
        key_card_key=key,
        key_card_serial_hint=serial_hint,
        expires_at=timezone.now() + timedelta(seconds=CODE_LOGIN_TTL),
    )


def demo_code_login_finish(*, login: DemoCodeLogin, code: Any) -> Citizen:
    """The code typed: checked and used by the key card's or key fob's own service, which counts a
    wrong one toward its throttle and the §7 lock (400 invalid_credentials; 429 too_many_attempts
    while throttled or locked). Right: the citizen logged in, and the §7 count starts over."""
    if timezone.now() >= login.expires_at:
        raise NotFoundError("This login has ended; start again.")
    citizen = Citizen.objects.filter(user_id=login.user_id).first()
    if citizen is None:
        raise InvalidCredentialsError()
    if login.method == "key_card":
        key_card_code_verify(citizen=citizen, key=login.key_card_key, code=code, purpose="login")
    else:
        key_fob_code_verify(citizen=citizen, code=code)
    citizen_record_success(citizen_id=citizen.pk)
    return citizen


# --- the demo citizen's key fob ----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFobCode:
    serial: str
    code: str
    valid_for: int  # seconds until the fob shows the next code
    used: bool  # this code was accepted already: wait for the next one


def demo_fob_code_now() -> DemoFobCode:
    """What the demo citizen's key fob shows now (`seed_demo` gives it one): a real fob computes it
    from the same seed, which the database keeps encrypted."""
    citizen = citizen_find_by_cpr(cpr=DEMO_CPR)
    fob = key_fob_of_citizen(citizen=citizen) if citizen is not None else None
    if fob is None:
        raise NotFoundError("The demo citizen has no key fob: run seed_demo first.")
    now = timezone.now()
    step = totp.time_step(now, fob.period)
    code = totp.code_at_step(key_fob_seed(fob), step, digits=fob.digits, digest=fob.digest, period=fob.period)
    return DemoFobCode(
        serial=fob.serial,
        code=code,
        valid_for=fob.period - int(now.timestamp()) % fob.period,
        used=fob.last_step is not None and fob.last_step >= step,
    )

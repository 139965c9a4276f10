"""The demo relying party's side: a webshop that asks for 3-D Secure at checkout and a site that
logs people in. It calls the same services the HTTP API calls, server-side, as the relying party
marked as the demo's webshop (demo.models.DemoRelyingParty; created on first use if `seed_demo` has
not made it)."""

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
from demo.models import DemoRelyingParty
from nemid_app_backend.exceptions import (
    NoActiveDeviceError,
    RateLimitedError,
    TooManyPendingError,
    UnknownUserError,
    UserLockedError,
    ValidationError,
)
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

"""The demo relying party's side: a webshop that asks for 3-D Secure at checkout and a site that
logs people in. It calls the same services the HTTP API calls, server-side, as the relying party
"Webshop ApS" (created on first use if `seed_demo` has not made it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from approvals.models import ApprovalRequest
from approvals.services import approval_request_create
from relying_parties.models import RelyingParty
from relying_parties.selectors import relying_party_get_by_name
from relying_parties.services import relying_party_create
from threeds.models import ThreeDSAuthentication
from threeds.services import threeds_authentication_create

DEMO_RP_NAME = "Webshop ApS"
DEMO_RP_TYPES = ["login", "payment", "3ds"]
DEMO_ACTOR = "demo"
TEST_CARD = "4111 1111 1111 1111"


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


def demo_relying_party() -> RelyingParty:
    rp = relying_party_get_by_name(name=DEMO_RP_NAME)
    if rp is None:
        rp, _, _ = relying_party_create(name=DEMO_RP_NAME, allowed_types=DEMO_RP_TYPES, actor=DEMO_ACTOR)
    return rp


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


def demo_login_start(*, user_id: Any) -> ApprovalRequest:
    """Log in with the app: a login request with number matching (approval engine)."""
    rp = demo_relying_party()
    user_id = user_id.strip() if isinstance(user_id, str) else user_id
    return approval_request_create(
        relying_party=rp, type=ApprovalRequest.Type.LOGIN, login_hint=user_id, binding_message=f"Log in to {rp.name}"
    ).approval

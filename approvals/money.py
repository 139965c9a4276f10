"""Money as the contract writes it (docs/contract §0): `{"amount": "149.95", "currency": "DKK"}`.

`currency` is an upper-case ISO 4217 alphabetic code with a defined minor unit (XXX, XAU and
the like have none and are refused); `amount` is a decimal string with exactly the currency's
minor-unit digits, no sign, no leading zeros, greater than zero. Pure: no ORM.
"""

from __future__ import annotations

import re
from decimal import Decimal

from iso4217 import Currency

MAX_AMOUNT_LENGTH = 32
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


class MoneyInvalid(ValueError):
    pass


def currency_exponent(code: object) -> int:
    """The minor-unit digits of an ISO 4217 currency; MoneyInvalid if it has none or is unknown."""
    if not isinstance(code, str) or not _CURRENCY_RE.fullmatch(code):
        raise MoneyInvalid("currency must be an upper-case ISO 4217 alphabetic code")
    try:
        exponent = Currency(code).exponent
    except ValueError as exc:
        raise MoneyInvalid(f"{code} is not an ISO 4217 currency") from exc
    if exponent is None:
        raise MoneyInvalid(f"{code} has no minor unit")
    return int(exponent)


def validate_amount(amount: object, exponent: int) -> str:
    """Return `amount` unchanged if it is a valid amount with `exponent` minor-unit digits."""
    if not isinstance(amount, str):
        raise MoneyInvalid("amount must be a decimal string")
    if len(amount) > MAX_AMOUNT_LENGTH:
        raise MoneyInvalid(f"amount must be at most {MAX_AMOUNT_LENGTH} characters")
    integer = r"(0|[1-9][0-9]*)"
    pattern = f"{integer}\\.[0-9]{{{exponent}}}" if exponent else "[1-9][0-9]*"
    if not re.fullmatch(pattern, amount, flags=re.ASCII):
        digits = "no decimals" if exponent == 0 else f"exactly {exponent} decimals"
        raise MoneyInvalid(f"amount must be a decimal string with {digits}, no sign and no leading zeros")
    if Decimal(amount) <= 0:
        raise MoneyInvalid("amount must be greater than zero")
    return amount


def validate_money(amount: object, currency: object) -> tuple[str, str]:
    """(amount, currency) if both are valid together; MoneyInvalid otherwise."""
    exponent = currency_exponent(currency)
    assert isinstance(currency, str)
    return validate_amount(amount, exponent), currency

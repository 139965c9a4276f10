"""The EMV 3-D Secure 2.2 decoupled-authentication AReq subset of docs/contract §8: parsing and
validation, and the conversion of a purchase amount to the contract's money form. Pure: no ORM.

Unknown AReq fields are ignored (a real 3DS Server sends many more); every field named here is
a JSON string as EMV prescribes. All errors are collected into one 400 `validation_error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from iso4217 import Currency

from approvals.money import MAX_AMOUNT_LENGTH as AMOUNT_MAX_LENGTH
from nemid_app_backend.exceptions import ValidationError
from threeds.app_settings import app_settings

_DIGITS = re.compile(r"[0-9]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MERCHANT_NAME_MAX_LENGTH = 40  # EMV merchantName
PURCHASE_AMOUNT_MAX_LENGTH = 48  # EMV purchaseAmount

_CURRENCIES_BY_NUMBER: dict[int, Currency] = {currency.number: currency for currency in Currency}


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_digits(value: Any, *, min_length: int = 1, max_length: int) -> bool:
    return isinstance(value, str) and min_length <= len(value) <= max_length and _DIGITS.fullmatch(value) is not None


def currency_for_number(number: str) -> Currency | None:
    """The ISO 4217 currency with this numeric code that has a minor unit (XXX, XAU... have none)."""
    currency = _CURRENCIES_BY_NUMBER.get(int(number))
    if currency is None or currency.exponent is None:
        return None
    return currency


def major_amount(minor: int, exponent: int) -> str:
    """14995, 2 -> "149.95"; 5, 2 -> "0.05"; 1500, 0 -> "1500"."""
    if exponent == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"


@dataclass(frozen=True)
class AReq:
    message_version: str
    three_ds_server_trans_id: str
    acct_number: str
    purchase_amount: str
    purchase_currency: str
    purchase_exponent: str
    merchant_name: str
    dec_max_time_minutes: int
    amount: str  # major units, the currency's exponent digits
    currency: str  # ISO 4217 alphabetic

    @property
    def expires_in(self) -> int:
        """threeDSRequestorDecMaxTime honoured, floored and capped by the contract's 30-600 s."""
        return max(app_settings.MIN_EXPIRES_IN, min(app_settings.MAX_EXPIRES_IN, self.dec_max_time_minutes * 60))


def areq_parse(data: Any) -> AReq:
    """Validate an AReq body; raises ValidationError listing every bad field."""
    if not isinstance(data, dict):
        raise ValidationError({"body": ["Must be a JSON object."]})
    errors: dict[str, list[str]] = {}

    def field(name: str) -> str | None:
        value = data.get(name)
        if value is None:
            errors.setdefault(name, []).append("This field is required.")
            return None
        if not isinstance(value, str):
            errors.setdefault(name, []).append("Must be a string.")
            return None
        return value

    def invalid(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    version = field("messageVersion")
    if version is not None and version not in app_settings.MESSAGE_VERSIONS:
        invalid("messageVersion", f"Supported versions: {', '.join(app_settings.MESSAGE_VERSIONS)}.")

    trans_id = field("threeDSServerTransID")
    if trans_id is not None and _UUID.fullmatch(trans_id) is None:
        invalid("threeDSServerTransID", "Must be a UUID (8-4-4-4-12 hexadecimal digits).")

    acct = field("acctNumber")
    if acct is not None:
        if not is_digits(acct, min_length=13, max_length=19):
            invalid("acctNumber", "Must be 13 to 19 digits.")
        elif not luhn_valid(acct):
            invalid("acctNumber", "Fails the Luhn check.")

    amount_minor = field("purchaseAmount")
    if amount_minor is not None:
        if not is_digits(amount_minor, max_length=PURCHASE_AMOUNT_MAX_LENGTH):
            invalid("purchaseAmount", f"Must be 1 to {PURCHASE_AMOUNT_MAX_LENGTH} digits (minor units).")
            amount_minor = None
        elif int(amount_minor) == 0:
            invalid("purchaseAmount", "Must be greater than zero.")
            amount_minor = None

    currency: Currency | None = None
    currency_number = field("purchaseCurrency")
    if currency_number is not None:
        if not is_digits(currency_number, min_length=3, max_length=3):
            invalid("purchaseCurrency", "Must be an ISO 4217 numeric code (3 digits).")
        else:
            currency = currency_for_number(currency_number)
            if currency is None:
                invalid("purchaseCurrency", "Not an ISO 4217 currency with a minor unit.")

    exponent = field("purchaseExponent")
    if exponent is not None:
        if not is_digits(exponent, max_length=1):
            invalid("purchaseExponent", "Must be one digit.")
        elif currency is not None and int(exponent) != currency.exponent:
            invalid("purchaseExponent", f"Must be {currency.exponent}, the exponent of {currency.code}.")

    merchant = field("merchantName")
    if merchant is not None:
        if not merchant.strip():
            invalid("merchantName", "Must not be blank.")
        elif len(merchant) > MERCHANT_NAME_MAX_LENGTH:
            invalid("merchantName", f"At most {MERCHANT_NAME_MAX_LENGTH} characters.")
        elif not merchant.isprintable():
            invalid("merchantName", "Only printable characters are allowed.")

    indicator = field("threeDSRequestorDecReqInd")
    if indicator is not None and indicator != "Y":
        invalid("threeDSRequestorDecReqInd", 'Must be "Y": only decoupled authentication is offered.')

    max_time = field("threeDSRequestorDecMaxTime")
    if max_time is not None and not is_digits(max_time, min_length=5, max_length=5):
        invalid("threeDSRequestorDecMaxTime", "Must be 5 digits (minutes).")

    amount = ""
    if amount_minor is not None and currency is not None and currency.exponent is not None:
        amount = major_amount(int(amount_minor), currency.exponent)
        if len(amount) > AMOUNT_MAX_LENGTH:
            invalid("purchaseAmount", "The amount is too large.")

    if errors:
        raise ValidationError(errors)
    assert currency is not None  # for the type checker: no errors means every field was parsed
    return AReq(
        message_version=str(version),
        three_ds_server_trans_id=str(trans_id),  # echoed back exactly as the 3DS Server sent it
        acct_number=str(acct),
        purchase_amount=str(amount_minor),
        purchase_currency=str(currency_number),
        purchase_exponent=str(exponent),
        merchant_name=str(merchant),
        dec_max_time_minutes=int(str(max_time)),
        amount=amount,
        currency=currency.code,
    )

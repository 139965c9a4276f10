"""docs/contract §0 money rules, as a pure function."""

import pytest

from approvals.money import MoneyInvalid, validate_money


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("149.95", "DKK"), ("0.01", "EUR"), ("1500", "JPY"), ("1.500", "KWD"), ("10000000.00", "USD")],
)
def test_valid_money(amount, currency):
    assert validate_money(amount, currency) == (amount, currency)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("149.9", "DKK"),  # too few decimals
        ("149.950", "DKK"),  # too many
        ("149", "DKK"),  # no decimals where 2 are required
        ("1500.0", "JPY"),  # JPY has none
        ("1.50", "KWD"),  # KWD has 3
        ("-1.00", "DKK"),
        ("+1.00", "DKK"),
        ("01.00", "DKK"),  # leading zero
        ("0.00", "DKK"),  # not greater than zero
        ("0", "JPY"),
        ("1,00", "DKK"),
        (" 1.00", "DKK"),
        ("1.00 ", "DKK"),
        ("1e2", "JPY"),
        ("\u0661\u0660\u0660", "JPY"),  # Arabic-Indic digits
        ("1" * 40 + ".00", "DKK"),
        (149.95, "DKK"),  # a number, not a string
        (None, "DKK"),
        ("1.00", "dkk"),  # lower case
        ("1.00", "XXX"),  # no minor unit
        ("1.00", "XAU"),
        ("1.00", "ABC"),  # not a currency
        ("1.00", 208),
        ("1.00", None),
    ],
)
def test_invalid_money(amount, currency):
    with pytest.raises(MoneyInvalid):
        validate_money(amount, currency)

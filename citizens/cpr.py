"""CPR number parsing and eligibility (docs/contract §2). Pure: no ORM, no settings."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

_CPR_RE = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d{4})$")


class CprError(ValueError):
    pass


@dataclass(frozen=True)
class Cpr:
    digits: str  # 10 digits, no dash
    birth_date: datetime.date

    @property
    def masked(self) -> str:
        return f"{self.digits[:6]}-XXXX"


def century_for(seventh_digit: int, yy: int) -> int:
    if seventh_digit <= 3:
        return 1900
    if seventh_digit in (4, 9):
        return 2000 if yy <= 36 else 1900
    # 5-8
    return 2000 if yy <= 57 else 1800


def parse_cpr(value: str) -> Cpr:
    match = _CPR_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise CprError("A CPR number is DDMMYY-SSSS or DDMMYYSSSS.")
    dd, mm, yy, serial = (match.group(i) for i in range(1, 5))
    year = century_for(int(serial[0]), int(yy)) + int(yy)
    try:
        birth_date = datetime.date(year, int(mm), int(dd))
    except ValueError as exc:
        raise CprError("The CPR number's date does not exist.") from exc
    return Cpr(digits=f"{dd}{mm}{yy}{serial}", birth_date=birth_date)


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years

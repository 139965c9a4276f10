"""The one way the service writes a moment: RFC 3339 in UTC, ending in Z."""

from __future__ import annotations

import datetime
from typing import overload


@overload
def rfc3339(value: datetime.datetime, *, whole_seconds: bool = False) -> str: ...


@overload
def rfc3339(value: None, *, whole_seconds: bool = False) -> None: ...


def rfc3339(value: datetime.datetime | None, *, whole_seconds: bool = False) -> str | None:
    """The API's timestamps keep the microseconds; operator commands and pages show whole seconds."""
    if value is None:
        return None
    utc = value.astimezone(datetime.UTC)
    if whole_seconds:
        utc = utc.replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")

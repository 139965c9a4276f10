"""Citizen settings, read live from settings.NEMID_* so tests can override them."""

from __future__ import annotations

import datetime

from django.conf import settings


class AppSettings:
    @property
    def ACTIVATION_CODE_TTL(self) -> datetime.timedelta:
        """How long an activation code stays usable (seconds in NEMID_ACTIVATION_CODE_TTL; default 7 days)."""
        return datetime.timedelta(seconds=int(getattr(settings, "NEMID_ACTIVATION_CODE_TTL", 7 * 24 * 3600)))

    @property
    def ACTIVATION_CODE_REQUEST_TTL(self) -> datetime.timedelta:
        """How long a request for an activation code waits for a second operator's approval
        (seconds in NEMID_ACTIVATION_CODE_REQUEST_TTL; default 24 h)."""
        return datetime.timedelta(seconds=int(getattr(settings, "NEMID_ACTIVATION_CODE_REQUEST_TTL", 24 * 3600)))

    @property
    def MINIMUM_AGE(self) -> int:
        return int(getattr(settings, "NEMID_MINIMUM_AGE", 15))

    @property
    def ELIGIBILITY_TIME_ZONE(self) -> str:
        """The calendar whose date decides a citizen's age at enrollment."""
        return str(getattr(settings, "NEMID_ELIGIBILITY_TIME_ZONE", "Europe/Copenhagen"))

    @property
    def LOCK_THRESHOLD(self) -> int:
        """Consecutive failed attempts that lock a citizen (docs/contract §7: 5)."""
        return int(getattr(settings, "NEMID_LOCK_THRESHOLD", 5))

    @property
    def LOCK_PERIOD(self) -> int:
        """Seconds a lock (and a fraud report's login block) lasts (docs/contract §7: 1 h)."""
        return int(getattr(settings, "NEMID_LOCK_PERIOD", 3600))

    @property
    def PASSWORD_FREE_FAILURES(self) -> int:
        """Consecutive wrong passwords before the first delay (§9 throttle)."""
        return int(getattr(settings, "NEMID_PASSWORD_FREE_FAILURES", 3))

    @property
    def PASSWORD_DELAY(self) -> int:
        """Seconds of the first delay; each further wrong password doubles it."""
        return int(getattr(settings, "NEMID_PASSWORD_DELAY", 60))

    @property
    def PASSWORD_MAX_DELAY(self) -> int:
        """The longest delay: the real citizen never waits longer than this after the last wrong password."""
        return int(getattr(settings, "NEMID_PASSWORD_MAX_DELAY", 900))


app_settings = AppSettings()

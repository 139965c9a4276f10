"""The growing delay that throttles guessing of one authenticator (password, key card, key fob).

One schedule for all three, each with its own parameters: the first `free` consecutive failures
cost nothing; from there each failure blocks the authenticator for `base` seconds, doubling, up to
`cap`. It is a delay, never a lock: whatever an attacker does, the real citizen waits at most `cap`
after the last failure. A blocked authenticator is not checked at all (429 too_many_attempts with
Retry-After); such an attempt counts neither as a failure nor as a success. Pure: no ORM.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from nemid_app_backend.exceptions import ApplicationError, TooManyAttemptsError


@dataclass(frozen=True)
class Schedule:
    free: int  # consecutive failures allowed before the first delay
    base: int  # seconds of the first delay
    cap: int  # the longest delay, seconds

    def delay(self, failures: int) -> int:
        """Seconds an authenticator stays blocked after its `failures`-th consecutive failure."""
        if failures < self.free:
            return 0
        exponent = min(failures - self.free, 32)
        return min(self.cap, self.base * 2**exponent)

    def blocked_until(self, failures: int, now: datetime.datetime) -> datetime.datetime | None:
        delay = self.delay(failures)
        return now + datetime.timedelta(seconds=delay) if delay else None


def is_blocked(blocked_until: datetime.datetime | None, now: datetime.datetime) -> bool:
    return blocked_until is not None and blocked_until > now


def too_many_attempts(until: datetime.datetime, now: datetime.datetime, detail: str | None = None) -> ApplicationError:
    """The 429 of a blocked authenticator, with Retry-After in whole seconds (at least 1)."""
    seconds = max(1, int((until - now).total_seconds() + 0.999))
    return TooManyAttemptsError(detail, headers={"Retry-After": str(seconds)}, retry_after=seconds)

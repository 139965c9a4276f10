"""Limits on failed device registrations (docs/contract §4, §7).

A failed registration (invalid activation code, proof or public key) is counted, in the cache, per
window of NEMID_REGISTRATION_FAILURE_WINDOW seconds:

- per client address (the real client behind trusted proxies: nemid_app_backend.client_address),
- per activation code tried,
- per citizen, when the attempt names one (the citizen whose activation code was sent, or the
  user ID of another registration path),
- and across the whole service. Past NEMID_REGISTRATION_BREAKER_FAILURES failures in one window of
  NEMID_REGISTRATION_BREAKER_WINDOW seconds, the circuit breaker opens: every registration is
  answered 503 `registration_suspended` for NEMID_REGISTRATION_BREAKER_COOLDOWN seconds, and
  operators are alerted (an ERROR log line, an audit entry, a banner on every admin page; an
  operator may resume registrations early from that banner).

Past a per-address, per-code or per-citizen limit the answer is 429 `too_many_attempts` with
Retry-After until the window passes. A refused attempt is not checked and is not counted.

If the cache cannot be reached the limits fail open (and log): the activation codes' 80 bits of
entropy keep guessing hopeless on their own.

Usage by a registration path: `limits = registration_limits_for(...)`; `registration_limits_check(limits)`
before any work; `registration_failure_record(limits)` after each failed attempt.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.services import audit_append
from citizens.selectors import activation_code_citizen_id
from citizens.services import activation_code_normalize
from devices.app_settings import app_settings
from nemid_app_backend.cache import cache_count
from nemid_app_backend.exceptions import RegistrationSuspendedError, TooManyAttemptsError
from nemid_app_backend.secrets import keyed_hash
from nemid_app_backend.timefmt import rfc3339

logger = logging.getLogger(__name__)

BREAKER_KEY = "nemid:regbreaker"
_PURPOSE = "registration-limiter"


@dataclass(frozen=True)
class RegistrationLimits:
    """The counters one registration attempt is checked against and, if it fails, counts in."""

    keys: list[tuple[str, int]] = field(default_factory=list)  # (cache key, limit)


def _key(kind: str, value: str) -> str:
    return f"nemid:regfail:{kind}:{keyed_hash(_PURPOSE, value)[:40]}"


def registration_limits_for(
    *, client_address: str, activation_code: Any = None, citizen_id: int | None = None
) -> RegistrationLimits:
    """The limits of one attempt. With an activation code the citizen is the code's holder (if
    the code is known, in any state); another path passes `citizen_id` itself."""
    keys = [(_key("addr", client_address), app_settings.REGISTRATION_FAILURES_PER_ADDRESS)]
    normalized = activation_code_normalize(activation_code) if activation_code is not None else None
    if normalized is not None:
        keys.append((_key("code", normalized), app_settings.REGISTRATION_FAILURES_PER_CODE))
        if citizen_id is None:
            citizen_id = activation_code_citizen_id(code=normalized)
    if citizen_id is not None:
        keys.append((_key("citizen", str(citizen_id)), app_settings.REGISTRATION_FAILURES_PER_CITIZEN))
    return RegistrationLimits(keys=keys)


# --- the circuit breaker --------------------------------------------------------------------------


def registration_breaker_state() -> dict[str, Any] | None:
    """{"until", "failures", "opened_at"} (epoch seconds) while registrations are suspended, else None."""
    state = cache.get(BREAKER_KEY)
    if not isinstance(state, dict) or float(state.get("until", 0)) <= time.time():
        return None
    return state


def _global_key(now: float) -> str:
    return f"nemid:regfail:all:{int(now // app_settings.REGISTRATION_BREAKER_WINDOW)}"


def _breaker_open(*, failures: int, now: float) -> None:
    cooldown = app_settings.REGISTRATION_BREAKER_COOLDOWN
    state = {"until": now + cooldown, "failures": failures, "opened_at": now}
    if not cache.add(BREAKER_KEY, state, timeout=cooldown):
        return  # another process opened it first and raised the alert
    logger.error(
        "registration circuit breaker open: %s failed registrations within %s s; registrations suspended for %s s",
        failures,
        app_settings.REGISTRATION_BREAKER_WINDOW,
        cooldown,
    )
    audit_append(
        action="registration.suspended",
        object_type="registration",
        object_id="all",
        actor="system:registration-breaker",
        data={"failures": failures, "window": app_settings.REGISTRATION_BREAKER_WINDOW, "cooldown": cooldown},
    )


def registration_breaker_close(*, actor: str) -> bool:
    """Operator action: resume registrations before the cooldown ends. True if it was open."""
    state = registration_breaker_state()
    cache.delete(BREAKER_KEY)
    cache.delete(_global_key(time.time()))
    if state is None:
        return False
    audit_append(
        action="registration.resumed",
        object_type="registration",
        object_id="all",
        actor=actor,
        data={"failures": state.get("failures")},
    )
    return True


def registration_breaker_alert() -> SafeString | None:
    """The admin banner while the breaker is open (registered in DevicesConfig.ready)."""
    try:
        state = registration_breaker_state()
    except Exception:
        return None
    if state is None:
        return None
    return format_html(
        "Device registrations are suspended until {} after {} failed registrations within {} s "
        '(a possible attack). <a href="{}">Review and resume registrations</a>.',
        rfc3339_epoch(float(state["until"])),
        state.get("failures"),
        app_settings.REGISTRATION_BREAKER_WINDOW,
        reverse("admin:devices_device_registrations"),
    )


def rfc3339_epoch(epoch: float) -> str:
    return rfc3339(datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC), whole_seconds=True)


# --- checking and counting ------------------------------------------------------------------------


def registration_limits_check(limits: RegistrationLimits) -> None:
    """Raise RegistrationSuspendedError (503) while the breaker is open, TooManyAttemptsError (429)
    past any of the attempt's limits; nothing when the cache cannot be reached."""
    try:
        state = registration_breaker_state()
        counts = cache.get_many([key for key, _ in limits.keys])
    except Exception:
        logger.warning("registration limiter: cache unreachable, not limiting")
        return
    if state is not None:
        retry_after = max(1, int(float(state["until"]) - time.time()))
        raise RegistrationSuspendedError(headers={"Retry-After": str(retry_after)})
    if any(int(counts.get(key) or 0) >= limit for key, limit in limits.keys):
        raise TooManyAttemptsError(headers={"Retry-After": str(app_settings.REGISTRATION_FAILURE_WINDOW)})


def registration_failure_record(limits: RegistrationLimits) -> None:
    """Count one failed attempt in each of its counters and in the service-wide one."""
    now = time.time()
    try:
        for key, _ in limits.keys:
            cache_count(key, timeout=app_settings.REGISTRATION_FAILURE_WINDOW)
        failures = cache_count(_global_key(now), timeout=app_settings.REGISTRATION_BREAKER_WINDOW * 2)
    except Exception:
        logger.warning("registration limiter: cache unreachable, failure not counted")
        return
    if failures >= app_settings.REGISTRATION_BREAKER_FAILURES:
        _breaker_open(failures=failures, now=now)

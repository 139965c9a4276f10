"""Unknown user IDs typed on the hosted login pages, counted per client address.

The hosted pages tell a person that the user ID they typed is unknown (they mistyped it, and a
login by push or key card cannot go on without knowing whose it is). So that this cannot list
which user IDs exist, an address that has typed NEMID_OIDC_UNKNOWN_USER_LIMIT unknown user IDs
within one window of NEMID_OIDC_UNKNOWN_USER_WINDOW seconds gets `too_many_attempts` for any user
ID until the window ends: the answer then says nothing about the user ID. The address is the real
client behind the trusted proxies (nemid_app_backend.client_address), kept in the cache only as a
keyed hash. If the cache cannot be reached the check fails open (and logs): the pages still work.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

from nemid_app_backend.cache import cache_count
from nemid_app_backend.exceptions import ApplicationError, TooManyAttemptsError
from nemid_app_backend.secrets import keyed_hash
from oidc.app_settings import app_settings

logger = logging.getLogger(__name__)

_PURPOSE = "oidc-unknown-user"


def _window() -> tuple[str, int]:
    """The current window's key suffix and the seconds left in it."""
    seconds = app_settings.UNKNOWN_USER_WINDOW
    now = int(time.time())
    return str(now // seconds), seconds - now % seconds


def _key(address: str, window: str) -> str:
    return f"nemid:oidc-unknown:{keyed_hash(_PURPOSE, address)}:{window}"


def unknown_user_check(*, address: str) -> None:
    """Raise too_many_attempts (with Retry-After) if this address has used up its unknown user IDs."""
    window, left = _window()
    try:
        count = cache.get(_key(address, window)) or 0
    except Exception:  # the cache is down: fail open
        logger.warning("unknown user ID limit not checked: the cache cannot be reached", exc_info=True)
        return
    if count >= app_settings.UNKNOWN_USER_LIMIT:
        raise _refusal(left)


def unknown_user_record(*, address: str) -> None:
    """Count one unknown user ID typed from this address."""
    window, left = _window()
    key = _key(address, window)
    try:
        cache_count(key, timeout=left + 1)
    except Exception:
        logger.warning("unknown user ID not counted: the cache cannot be reached", exc_info=True)


def _refusal(seconds: int) -> ApplicationError:
    return TooManyAttemptsError(headers={"Retry-After": str(seconds)}, retry_after=seconds)

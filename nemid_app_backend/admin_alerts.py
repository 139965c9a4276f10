"""Alerts shown at the top of every operator admin page.

An app that detects a condition operators must act on (registrations suspended by the circuit
breaker, ...) registers a function here in its `AppConfig.ready()`; the admin's base template
calls every registered function on each page and shows the messages they return. A function
returns None when there is nothing to say; it must be cheap (a cache read) and never raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils.safestring import SafeString

logger = logging.getLogger(__name__)

AdminAlert = Callable[[], "str | SafeString | None"]
_alerts: list[AdminAlert] = []


def register_admin_alert(alert: AdminAlert) -> None:
    if alert not in _alerts:
        _alerts.append(alert)


def admin_alerts() -> list[str | SafeString]:
    messages: list[str | SafeString] = []
    for alert in list(_alerts):
        try:
            message = alert()
        except Exception:  # an alert must never take the admin down with it
            logger.exception("admin alert %s failed", getattr(alert, "__name__", alert))
            continue
        if message:
            messages.append(message)
    return messages

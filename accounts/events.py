"""A hook for the audit log: accounts sits below the audit app and cannot write to it, so it
announces what happened to staff accounts here, and the audit app (above) listens (AuditConfig.ready).

Events: `staff.totp_enrolled`, `staff.demo_codes_issued`, `staff.logged_in`, `staff.locked_out`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StaffEventListener = Callable[..., None]  # (*, action: str, username: str, actor: str, data: dict) -> None
_listeners: list[StaffEventListener] = []


def on_staff_event(listener: StaffEventListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def staff_event(*, action: str, username: str, actor: str, data: dict[str, Any] | None = None) -> None:
    for listener in list(_listeners):
        listener(action=action, username=username, actor=actor, data=data or {})

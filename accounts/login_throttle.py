"""What django-axes needs from the project (settings AXES_*), and the audit of staff log-ins."""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.events import staff_event
from nemid_app_backend.client_address import client_address


def client_ip(request: HttpRequest) -> str | None:
    """The real client behind the trusted proxies (NEMID_TRUSTED_PROXIES): a forged X-Forwarded-For
    from anyone else is ignored, so it can neither lock another address out nor dodge a lock.
    None when the request carries no IP address (a server on a Unix socket without the proxy's
    header, a log-in made in code): django-axes then records no address, where a word such as
    "unknown" would be refused by PostgreSQL's inet column."""
    address = client_address(request.META)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address


@receiver(user_locked_out, dispatch_uid="accounts.staff_locked_out")
def _locked_out(
    sender: Any, request: HttpRequest | None = None, username: str | None = None, ip_address: str | None = None, **kwargs: Any
) -> None:
    staff_event(
        action="staff.locked_out",
        username=str(username or ""),
        actor=f"address:{ip_address or 'unknown'}",
        data={"client_address": ip_address},
    )


@receiver(user_logged_in, dispatch_uid="accounts.staff_logged_in")
def _logged_in(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    if user is None or not getattr(user, "is_staff", False):
        return
    device = getattr(user, "otp_device", None)
    staff_event(
        action="staff.logged_in",
        username=user.get_username(),
        actor=f"admin:{user.get_username()}",
        data={
            "otp_device": getattr(device, "persistent_id", None),
            "client_address": client_address(request.META) if request is not None else None,
        },
    )

"""Staff accounts' second factor (django-otp devices), written once here for the commands and the demo.

A staff account signs in to the admin with its password and a one-time code (accounts/staff_admin.py).
The code comes from a TOTP device (RFC 6238, an authenticator app) enrolled by `enroll_staff_totp`,
which prints the otpauth:// URI once; the seed is kept only in the device row, never logged.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.events import staff_event
from accounts.models import User
from nemid_app_backend.exceptions import InvalidArgumentError

TOTP_DEVICE_NAME = "authenticator app"
DEMO_STATIC_DEVICE_NAME = "demo one-time codes"


def staff_user_get(*, username: str) -> User:
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.is_staff or not user.is_active:
        raise InvalidArgumentError(f"No active staff account is named {username!r}.")
    assert isinstance(user, User)
    return user


@transaction.atomic
def staff_totp_enroll(*, user: User, replace: bool, actor: str) -> tuple[TOTPDevice, str]:
    """Give the staff account a confirmed TOTP device; returns it with its otpauth:// URI (show once).
    An account that has one already keeps it unless `replace`, which removes the old ones."""
    existing = TOTPDevice.objects.filter(user=user)
    if existing.exists():
        if not replace:
            raise InvalidArgumentError(
                f"{user.username!r} has a TOTP device already; --replace removes it and enrolls a new one."
            )
        existing.delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    staff_event(
        action="staff.totp_enrolled",
        username=user.username,
        actor=actor,
        data={"device": device.persistent_id, "replaced": replace},
    )
    return device, device.config_url


@transaction.atomic
def staff_demo_codes(*, user: User, keep: int, actor: str) -> list[str]:
    """The demo operator's unused one-time codes (single use each), topped up to `keep` when fewer than
    half are left. For `make run`'s demo operator only (seed_demo, with DJANGO_DEBUG): the admin can be
    tried without an authenticator app, through the same one-time-code check as every staff log-in.
    django-otp keeps these codes in clear in its table: never give such a device to a real account."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=DEMO_STATIC_DEVICE_NAME, defaults={"confirmed": True})
    codes = list(device.token_set.order_by("pk").values_list("token", flat=True))
    if len(codes) * 2 > keep:
        return codes
    fresh = [f"{secrets.randbelow(10**8):08d}" for _ in range(keep - len(codes))]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in fresh])
    staff_event(action="staff.demo_codes_issued", username=user.username, actor=actor, data={"count": len(fresh)})
    return codes + fresh

"""The operator admin's site: a password and a one-time code for every staff log-in.

- `StaffAdminSite` is django-otp's `OTPAdminSite` under the usual name `admin`: a staff account is let in
  only once a registered OTP device (a TOTP authenticator app, enrolled with `enroll_staff_totp`) has
  verified it, in the same log-in form as the password.
- Log-in attempts are throttled and locked per account by django-axes (settings AXES_*): a wrong
  password and a wrong one-time code both count as a failed log-in for that username, so neither can
  be guessed past the limit, whatever address the guesses come from.
- `accounts.admin_apps.StaffAdminConfig` installs the site as `django.contrib.admin.site` (Django's
  documented seam: `AdminConfig.default_site`), so every app's `admin.register` lands on it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and one-time code. A wrong or missing code after a right password is a
    failed log-in like a wrong password (django-axes counts it), so the code cannot be guessed either."""

    def _chosen_device(self, user: Any) -> Any:
        """The device the operator picked; when none was picked and the account has exactly one
        confirmed device, that one (django-otp asks to pick one even then, a needless second page)."""
        device = super()._chosen_device(user)
        if device is None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = devices[0]
        return device

    def clean_otp(self, user: Any) -> None:
        try:
            super().clean_otp(user)
        except ValidationError:
            if user is not None and not self.cleaned_data.get("otp_challenge"):
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": self.cleaned_data.get("username")},
                    request=self.request,
                )
            raise


class StaffAdminSite(OTPAdminSite):
    login_form = StaffLoginForm

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

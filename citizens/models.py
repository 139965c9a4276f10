"""Citizens (holders of a user ID) and their single-use activation codes.

The CPR number is never stored: only its keyed hash (for look-up and uniqueness), the date of
birth it encodes, and a masked form for operators.
"""

import datetime

from django.db import models
from django.utils import timezone


class Citizen(models.Model):
    user_id = models.CharField(max_length=10, unique=True, help_text="Random 10-digit user ID.")
    name = models.CharField(max_length=200)
    cpr_hash = models.CharField(max_length=64, unique=True, editable=False)
    cpr_masked = models.CharField(max_length=11, editable=False, help_text="DDMMYY-XXXX")
    birth_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    # §7 limits
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    login_blocked_until = models.DateTimeField(null=True, blank=True, help_text="Set by a fraud report.")
    fraud_reported_at = models.DateTimeField(null=True, blank=True)
    # §9 password: chosen by the citizen only; a Django password hash (Argon2id), never shown.
    password_hash = models.CharField(max_length=256, blank=True, editable=False)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    password_failures = models.PositiveIntegerField(default=0, help_text="Consecutive wrong passwords.")
    password_blocked_until = models.DateTimeField(null=True, blank=True, help_text="Password throttled until.")
    password_last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.name}"


class ActivationCode(models.Model):
    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="activation_codes")
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"activation code for {self.citizen.user_id} (expires {self.expires_at:%Y-%m-%d %H:%M})"

    def is_expired(self, now: datetime.datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

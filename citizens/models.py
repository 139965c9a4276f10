"""Citizens (holders of a user ID) and their single-use activation codes.

The CPR number is never stored: only its keyed hash (for look-up and uniqueness), the date of
birth it encodes, and a masked form for operators.
"""

import datetime

from django.conf import settings
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


class ActivationCodeRequest(models.Model):
    """An operator's request for an activation code, waiting for a second operator's approval.

    No code exists until another operator who holds `citizens.approve_activation_code` approves;
    only the services in citizens/services.py change `status`, along TRANSITIONS."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"
        CANCELLED = "cancelled"

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED, Status.EXPIRED, Status.CANCELLED}),
        Status.APPROVED: frozenset(),
        Status.REJECTED: frozenset(),
        Status.EXPIRED: frozenset(),
        Status.CANCELLED: frozenset(),
    }

    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="activation_code_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(max_length=500)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    activation_code = models.OneToOneField(
        ActivationCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="request"
    )

    class Meta:
        ordering = ["-requested_at"]
        permissions = [("approve_activation_code", "Can approve or reject another operator's activation code request")]
        constraints = [
            models.UniqueConstraint(
                fields=["citizen"], condition=models.Q(status="pending"), name="one_pending_activation_code_request"
            )
        ]

    def __str__(self) -> str:
        return f"activation code request #{self.pk} for {self.citizen.user_id}"

    def is_past_expiry(self, now: datetime.datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def state(self, now: datetime.datetime | None = None) -> str:
        """The status as an operator should read it: a pending request past its expiry is expired."""
        if self.status == self.Status.PENDING and self.is_past_expiry(now):
            return self.Status.EXPIRED
        return self.status

    @classmethod
    def can_transition(cls, source: str, target: str) -> bool:
        return target in cls.TRANSITIONS.get(source, frozenset())

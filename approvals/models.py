"""Approval requests: one login or payment asked of one citizen, ending in exactly one outcome."""

import datetime
import uuid

from django.db import models
from django.utils import timezone

from citizens.models import Citizen
from devices.models import Device
from relying_parties.models import RelyingParty


class ApprovalRequest(models.Model):
    class Type(models.TextChoices):
        LOGIN = "login"
        PAYMENT = "payment"

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"
        EXPIRED = "expired"
        CANCELLED = "cancelled"
        FAILED = "failed"

    # The one table of allowed transitions: a request leaves `pending` once, never to change again.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.DENIED, Status.EXPIRED, Status.CANCELLED, Status.FAILED}),
        Status.APPROVED: frozenset(),
        Status.DENIED: frozenset(),
        Status.EXPIRED: frozenset(),
        Status.CANCELLED: frozenset(),
        Status.FAILED: frozenset(),
    }
    FINAL_STATUSES = frozenset({Status.APPROVED, Status.DENIED, Status.EXPIRED, Status.CANCELLED, Status.FAILED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    relying_party = models.ForeignKey(RelyingParty, on_delete=models.PROTECT, related_name="approval_requests")
    citizen = models.ForeignKey(Citizen, on_delete=models.PROTECT, related_name="approval_requests")
    type = models.CharField(max_length=10, choices=Type.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    binding_message = models.CharField(max_length=100, blank=True)
    payment_amount = models.CharField(max_length=32, blank=True)
    payment_currency = models.CharField(max_length=3, blank=True)
    payment_payee = models.CharField(max_length=70, blank=True)
    number_matching = models.BooleanField(default=False)
    verification_code = models.CharField(max_length=2, blank=True)
    nonce = models.CharField(max_length=64)
    callback_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    device_signature = models.TextField(blank=True, help_text="The device's signed decision, verbatim.")
    result_token = models.TextField(blank=True)
    status_reason = models.CharField(max_length=64, blank=True)
    fraud_reported = models.BooleanField(default=False)
    # Set at creation by an app that makes requests through `approval_request_create` and needs to
    # tell its own apart later without a read (oidc's CIBA: "ciba"); "other" for every other request.
    # Blank (the column's database default) for a request whose origin is unknown: made before the
    # column existed, or by a process of the previous release during a rolling deploy.
    ORIGIN_OTHER = "other"
    origin = models.CharField(max_length=16, blank=True, default=ORIGIN_OTHER, db_default="")

    class Meta:
        # No default ordering: the hot path's plain queries must not sort; listings say their order.
        indexes = [
            models.Index(fields=["citizen", "status", "expires_at"]),
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["relying_party", "created_at"]),
            models.Index(fields=["citizen", "created_at"]),  # the prompt limits per citizen (approvals.limits)
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def payment(self) -> dict[str, str] | None:
        if self.type != self.Type.PAYMENT:
            return None
        return {"amount": self.payment_amount, "currency": self.payment_currency, "payee": self.payment_payee}

    def is_past_expiry(self, now: datetime.datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def is_overdue(self, now: datetime.datetime | None = None) -> bool:
        """Pending past `expires_at`: it is recorded as expired before anything else happens to it."""
        return self.status == self.Status.PENDING and self.is_past_expiry(now)

    @classmethod
    def can_transition(cls, source: str, target: str) -> bool:
        return target in cls.TRANSITIONS.get(source, frozenset())


class IdempotencyRecord(models.Model):
    relying_party = models.ForeignKey(RelyingParty, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    approval = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["relying_party", "key"], name="unique_idempotency_key_per_rp")]

    def __str__(self) -> str:
        return f"idempotency key for {self.approval_id}"

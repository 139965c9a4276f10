"""Key fobs (CONTRACT §9): OATH TOTP devices (RFC 6238) with a display, imported from the vendor's
PSKC file (RFC 6030) and assigned to a citizen by serial. The seed is kept encrypted at rest
(AES-256-GCM, nemid_app_backend.secrets) and never shown."""

from __future__ import annotations

from django.db import models

from citizens.models import Citizen


class KeyFob(models.Model):
    class Status(models.TextChoices):
        STOCK = "stock"  # imported, not assigned
        ASSIGNED = "assigned"
        REVOKED = "revoked"

    class Digest(models.TextChoices):
        SHA1 = "sha1"
        SHA256 = "sha256"
        SHA512 = "sha512"

    serial = models.CharField(max_length=64, unique=True)
    manufacturer = models.CharField(max_length=100, blank=True)
    seed_encrypted = models.TextField(editable=False)
    digest = models.CharField(max_length=6, choices=Digest.choices, default=Digest.SHA1)
    digits = models.PositiveSmallIntegerField(default=6)
    period = models.PositiveSmallIntegerField(default=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STOCK, db_index=True)
    citizen = models.ForeignKey(Citizen, on_delete=models.PROTECT, null=True, blank=True, related_name="key_fobs")
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.CharField(max_length=128, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # RFC 6238: the time step of the last accepted code (each code is accepted once, and never an
    # older one after it), and the fob's clock drift in steps as last seen.
    last_step = models.BigIntegerField(null=True, blank=True, editable=False)
    drift = models.IntegerField(default=0, editable=False)
    # The fob's own throttle (§9): blocked for a while after wrong codes in a row.
    failures = models.PositiveIntegerField(default=0, help_text="Wrong codes in a row.")
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["serial"]
        constraints = [
            models.UniqueConstraint(fields=["citizen"], condition=models.Q(status="assigned"), name="one_key_fob_per_citizen"),
        ]

    def __str__(self) -> str:
        return f"key fob {self.serial} ({self.status})"

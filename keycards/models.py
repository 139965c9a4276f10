"""Key cards (CONTRACT §9): printed cards of 148 numbered single-use codes.

A card's codes are stored only as keyed hashes, one row per key number. A card automatically
issued as a replacement keeps its codes encrypted until `print_key_cards` has printed it once.

Card lifecycle: `active` (the one card the citizen uses; at most one), `pending` (a replacement
issued while a card is active; asked for once the active card has no codes left, and made active
by its first use, which retires the old one), `retired`, `revoked`.
"""

from __future__ import annotations

import uuid

from django.db import models

from citizens.models import Citizen

CODES_PER_CARD = 148


class KeyCard(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        PENDING = "pending"
        RETIRED = "retired"
        REVOKED = "revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    citizen = models.ForeignKey(Citizen, on_delete=models.PROTECT, related_name="key_cards")
    serial = models.CharField(max_length=10, unique=True, help_text="Printed on the card; digits.")
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    issued_by = models.CharField(max_length=128, blank=True)
    auto_issued = models.BooleanField(default=False, help_text="Issued automatically when the previous card ran low.")
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The print queue: the codes, encrypted, until the card is printed once.
    print_payload_encrypted = models.TextField(blank=True, editable=False)
    print_queued_at = models.DateTimeField(null=True, blank=True)
    printed_at = models.DateTimeField(null=True, blank=True)
    # The key number the server asked for and that has not been answered right yet: asked again
    # until it is, so that asking for new challenges never lets anyone pick a key they know.
    asked_key = models.CharField(max_length=4, blank=True, editable=False)
    # The card's own throttle (§9).
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive wrong codes.")
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["citizen", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["citizen"], condition=models.Q(status="active"), name="one_active_key_card"),
            models.UniqueConstraint(fields=["citizen"], condition=models.Q(status="pending"), name="one_pending_key_card"),
        ]

    def __str__(self) -> str:
        return f"key card {self.serial} ({self.status})"


class KeyCardCode(models.Model):
    card = models.ForeignKey(KeyCard, on_delete=models.CASCADE, related_name="codes")
    key_number = models.CharField(max_length=4)
    code_hash = models.CharField(max_length=64, editable=False)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key_number"]
        constraints = [models.UniqueConstraint(fields=["card", "key_number"], name="unique_key_number_per_card")]

    def __str__(self) -> str:
        return f"key {self.key_number} of {self.card_id}"

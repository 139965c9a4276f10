"""The webhook outbox: one event per final status, written in the transaction of the change,
and the delivery attempts made for it."""

from django.db import models

from relying_parties.models import RelyingParty


class WebhookEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        GAVE_UP = "gave_up"

    msg_id = models.CharField(max_length=64, unique=True, help_text="The webhook-id header, the same on every retry.")
    relying_party = models.ForeignKey(RelyingParty, on_delete=models.CASCADE, related_name="webhook_events")
    event_type = models.CharField(max_length=64)
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    object_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    authorization_encrypted = models.TextField(
        blank=True, editable=False, help_text="An Authorization header the receiver asked for (encrypted at rest)."
    )

    class Meta:
        # No default ordering: the hot path's plain queries must not sort; listings say their order.
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id} ({self.status})"


class WebhookAttempt(models.Model):
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="delivery_attempts")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"attempt {self.status_code or self.error}"

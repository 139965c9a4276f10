"""Relying parties: web sites, webshops and 3-D Secure servers that ask for approvals."""

from django.db import models

APPROVAL_TYPES = ("login", "payment", "3ds")


class RelyingParty(models.Model):
    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    api_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    api_key_prefix = models.CharField(max_length=16, editable=False, help_text="First characters of the key, to tell keys apart.")
    webhook_secret_encrypted = models.TextField(editable=False)
    callback_url = models.URLField(max_length=2000, blank=True)
    allowed_types = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)
    prompt_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Approval requests (prompts) this relying party may make in any 60 seconds, across all citizens. "
        "Empty: the service's default (NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE); 0: no limit for this relying party.",
    )

    class Meta:
        # No default ordering: the hot path's plain queries must not sort; listings say their order.
        verbose_name_plural = "relying parties"

    # The caller of an API-key-authenticated request (DRF's IsAuthenticated reads it from request.user).
    is_authenticated = True

    def __str__(self) -> str:
        return self.name

    def allows(self, approval_type: str) -> bool:
        return approval_type in (self.allowed_types or [])

"""Devices: a citizen's phone (or browser) bound to the public half of a keypair it holds."""

import uuid

from django.db import models

from citizens.models import Citizen


class Device(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"

    class Platform(models.TextChoices):
        ANDROID = "android"
        IOS = "ios"
        WEB = "web"
        OTHER = "other"

    class PushProvider(models.TextChoices):
        FCM = "fcm"
        APNS = "apns"
        WEBPUSH = "webpush"
        NONE = "none"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    citizen = models.ForeignKey(Citizen, on_delete=models.PROTECT, related_name="devices")
    name = models.CharField(max_length=100)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    public_jwk = models.JSONField(help_text="Public key only.")
    alg = models.CharField(max_length=8, help_text="ES256 or EdDSA")
    key_thumbprint = models.CharField(max_length=64, unique=True, help_text="RFC 7638 thumbprint.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    push_provider = models.CharField(max_length=10, choices=PushProvider.choices, default=PushProvider.NONE)
    push_token = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # No default ordering: the hot path's plain queries must not sort; listings say their order.
        indexes = [models.Index(fields=["citizen", "status"])]

    # The caller of a device-authenticated request (DRF's IsAuthenticated reads it from request.user).
    is_authenticated = True

    def __str__(self) -> str:
        return f"{self.name} ({self.platform}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class DeviceChallenge(models.Model):
    """A challenge to activate a new device without an activation letter (docs/contract §9): made
    for a user ID, answered once with the password and a key card or key fob code. A challenge for
    a user ID that has no citizen looks the same and can never be answered right."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=10)
    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    key_card_serial_hint = models.CharField(max_length=3, blank=True)
    key_card_key = models.CharField(max_length=4, blank=True, help_text="The key number asked; empty when none.")
    key_fob = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"challenge {self.id} for {self.user_id}"


class SeenTokenId(models.Model):
    """Fallback store of seen device-token jtis, used only while the cache is unreachable."""

    device_id = models.UUIDField()
    jti = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device_id", "jti"], name="unique_seen_jti_per_device")]

    def __str__(self) -> str:
        return f"jti {self.jti}"

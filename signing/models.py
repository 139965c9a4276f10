"""The server's ES256 signing keys: the current one signs result tokens, retired ones stay in the JWKS."""

from django.db import models


class SigningKey(models.Model):
    kid = models.CharField(max_length=64, unique=True)
    private_key_encrypted = models.TextField(help_text="PKCS#8 PEM, AES-GCM encrypted at rest.")
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.kid

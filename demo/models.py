"""Which relying parties the demo pages act as: found by this marker, never by a name (an operator
may rename the demo's relying party, or create another one called "Webshop ApS")."""

from __future__ import annotations

from django.db import models

from relying_parties.models import RelyingParty


class DemoRelyingParty(models.Model):
    class Role(models.TextChoices):
        WEBSHOP = "webshop", "Webshop (checkout with 3-D Secure, and log in)"
        PUBLIC_SERVICE = "public_service", "Public service (logs in with OpenID Connect)"

    role = models.CharField(max_length=32, primary_key=True, choices=Role.choices)
    relying_party = models.OneToOneField(RelyingParty, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The public service's OpenID Connect client secret: a relying party keeps its own secret, and
    # this one is the demo's. Encrypted like the other secrets the service must use again.
    client_secret_encrypted = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name = "demo relying party"
        verbose_name_plural = "demo relying parties"

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.relying_party}"

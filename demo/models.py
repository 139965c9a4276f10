"""Which relying parties the demo pages act as: found by this marker, never by a name (an operator
may rename the demo's relying party, or create another one called "Webshop ApS")."""

from __future__ import annotations

from django.db import models

from relying_parties.models import RelyingParty


class DemoRelyingParty(models.Model):
    class Role(models.TextChoices):
        WEBSHOP = "webshop", "Webshop (checkout with 3-D Secure, and log in)"

    role = models.CharField(max_length=32, primary_key=True, choices=Role.choices)
    relying_party = models.OneToOneField(RelyingParty, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "demo relying party"
        verbose_name_plural = "demo relying parties"

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.relying_party}"

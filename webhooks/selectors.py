"""Reads of the webhook outbox."""

from __future__ import annotations

from nemid_app_backend import secrets
from relying_parties.models import RelyingParty

WEBHOOK_SECRET_PURPOSE = "webhook-secret"


def webhook_secret_for(relying_party: RelyingParty) -> str:
    """The RP's clear `whsec_` secret, decrypted from its at-rest form only when signing."""
    return secrets.decrypt(relying_party.webhook_secret_encrypted, purpose=WEBHOOK_SECRET_PURPOSE).decode()

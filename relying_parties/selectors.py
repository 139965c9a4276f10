"""Reads of relying parties."""

from __future__ import annotations

from relying_parties.models import RelyingParty


def relying_party_actor_name(client_id: str) -> str | None:
    """How the audit log names a relying-party actor."""
    name = RelyingParty.objects.filter(client_id=client_id).values_list("name", flat=True).first()
    return f"Relying party {name}" if name else None

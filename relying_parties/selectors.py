"""Reads of relying parties."""

from __future__ import annotations

from relying_parties.models import RelyingParty


def relying_party_get_by_name(*, name: str) -> RelyingParty | None:
    return RelyingParty.objects.filter(name=name).order_by("created_at").first()

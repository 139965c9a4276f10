"""Reads of key fobs."""

from __future__ import annotations

from citizens.models import Citizen
from keyfobs.models import KeyFob


def key_fob_of_citizen(*, citizen: Citizen) -> KeyFob | None:
    return KeyFob.objects.filter(citizen=citizen, status=KeyFob.Status.ASSIGNED).first()


def citizen_has_key_fob(*, citizen: Citizen) -> bool:
    """Whether a key fob is assigned to the citizen."""
    return KeyFob.objects.filter(citizen=citizen, status=KeyFob.Status.ASSIGNED).exists()


def key_fobs_for_citizen(*, citizen: Citizen) -> list[KeyFob]:
    return list(KeyFob.objects.filter(citizen=citizen).order_by("-assigned_at"))

"""Small query helpers for the request hot path."""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

M = TypeVar("M", bound=models.Model)


def one_or_none(queryset: models.QuerySet[M]) -> M | None:
    """The row a filter on a unique key matches, or None.

    What `.first()` answers for such a filter, without the ORDER BY it adds: compiling the model's
    ordering was a measurable part of every hot-path read (bench profile)."""
    try:
        return queryset.get()
    except ObjectDoesNotExist:
        return None

"""The §7 limits that protect a citizen: failed-attempt counting, the 5-strike lock, the login
block after a fraud report, and the operator's unlock. Owned by the approval engine work."""

from __future__ import annotations

from citizens.models import Citizen


def citizen_unlock(*, citizen: Citizen, actor: str) -> Citizen:
    """Clear the lock, the failed-attempt count and any fraud login block; audited."""
    raise NotImplementedError

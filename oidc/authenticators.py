"""The authenticators the hosted pages offer, each owned by its own app and reached here through
that app's services and selectors: the code app (devices, approvals), key cards, key fobs and
passwords (citizens). This module only says which ones a citizen holds and checks a code with
the owner's service; the owners count failures and throttle (CONTRACT §7, §9)."""

from __future__ import annotations

from citizens.models import Citizen
from oidc import assurance
from oidc.selectors import citizen_has_active_device


def possession_methods(*, citizen: Citizen) -> list[str]:
    """The possession authenticators the citizen holds, in the order the pages offer them."""
    methods = []
    if citizen_has_active_device(citizen=citizen):
        methods.append(assurance.APP)
    return methods


def has_password(*, citizen: Citizen) -> bool:
    return False

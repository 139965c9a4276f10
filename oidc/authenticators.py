"""The authenticators the hosted pages offer, each owned by its own app and reached here through
that app's services and selectors: the code app (devices, approvals), key cards (keycards), key
fobs (keyfobs) and the password (citizens). This module says which ones a citizen holds; the
owners' services check a code, count failures toward the §7 lock and throttle (docs/contract §9)."""

from __future__ import annotations

from citizens.models import Citizen
from citizens.selectors import citizen_has_password
from keycards.selectors import citizen_has_active_key_card
from keyfobs.selectors import citizen_has_key_fob
from oidc import assurance
from oidc.selectors import citizen_has_active_device


def possession_methods(*, citizen: Citizen) -> list[str]:
    """The possession authenticators the citizen holds, in the order the pages offer them."""
    methods = []
    if citizen_has_active_device(citizen=citizen):
        methods.append(assurance.APP)
    if citizen_has_active_key_card(citizen=citizen):
        methods.append(assurance.KEY_CARD)
    if citizen_has_key_fob(citizen=citizen):
        methods.append(assurance.KEY_FOB)
    return methods


def has_password(*, citizen: Citizen) -> bool:
    return citizen_has_password(citizen=citizen)

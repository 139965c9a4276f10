"""Reads of the OpenID provider's records, and the pairwise subject identifier."""

from __future__ import annotations

import re
import uuid

from django.utils import timezone

from citizens.models import Citizen
from devices.models import Device
from nemid_app_backend.db import FixedSelect
from nemid_app_backend.secrets import keyed_hash
from oidc.models import Client, Consent, LoginTransaction

SUBJECT_PURPOSE = "oidc-pairwise-sub"
_USER_ID = re.compile(r"[0-9]{10}")  # ASCII digits: str.isdigit() also accepts "²" and "٣"


def pairwise_subject(*, citizen: Citizen, client_id: str) -> str:
    """`sub` for this citizen at this client (OIDC Core §8.1): a keyed hash of the citizen's
    internal id and the client_id, stable, different for every client, and neither the CPR number
    nor the user ID (nor derivable from them without the server's key)."""
    return keyed_hash(SUBJECT_PURPOSE, f"{client_id}\x00{citizen.pk}")


_CLIENT = FixedSelect(Client, where=("client_id",), related=("relying_party",))


def client_get(*, client_id: object) -> Client | None:
    """The client (with its relying party) by client_id, or None. Every token, backchannel and
    authorization request reads it: one SELECT written once (nemid_app_backend.db.FixedSelect)."""
    if not isinstance(client_id, str) or not client_id or len(client_id) > 255 or "\x00" in client_id:
        return None
    return _CLIENT.one(client_id)


def consent_covers(*, citizen: Citizen, client: Client, scopes: list[str]) -> bool:
    consent = Consent.objects.filter(citizen=citizen, client=client).first()
    return consent is not None and set(scopes) <= set(consent.scopes)


def login_transaction_get(*, transaction_id: object) -> LoginTransaction | None:
    """An active, unexpired hosted-page login by its id, or None."""
    try:
        parsed = uuid.UUID(str(transaction_id))
    except ValueError:
        return None
    return (
        LoginTransaction.objects.select_related("client__relying_party", "citizen", "approval")
        .filter(pk=parsed, status=LoginTransaction.Status.ACTIVE, expires_at__gt=timezone.now())
        .first()
    )


def citizen_get_by_user_id(*, user_id: str) -> Citizen | None:
    if not (isinstance(user_id, str) and _USER_ID.fullmatch(user_id)):
        return None
    return Citizen.objects.filter(user_id=user_id).first()


def citizen_has_active_device(*, citizen: Citizen) -> bool:
    return Device.objects.filter(citizen=citizen, status=Device.Status.ACTIVE).exists()

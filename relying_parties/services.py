"""Relying parties: creation, API-key rotation, updates and their webhook secret (docs/contract §1, §3).

The API key (256 random bits) is shown once and stored only as a keyed hash; the webhook secret
(Standard Webhooks form `whsec_<base64>`) must be used again to sign deliveries, so it is kept
encrypted at rest and decrypted only by `relying_party_webhook_secret`.
"""

from __future__ import annotations

import base64
import secrets
import unicodedata
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_append
from nemid_app_backend import secrets as app_secrets
from nemid_app_backend.exceptions import ValidationError
from nemid_app_backend.outbound import validate_outbound_url
from nemid_app_backend.secrets import keyed_hash
from relying_parties.app_settings import app_settings
from relying_parties.authentication import API_KEY_PURPOSE, relying_party_keys_forget
from relying_parties.models import APPROVAL_TYPES, RelyingParty

WEBHOOK_SECRET_PURPOSE = "webhook-secret"
API_KEY_PREFIX = "nrp_"


def validate_callback_url(url: Any, *, field: str = "callback_url") -> str:
    """A webhook target, by the one outbound rule (`nemid_app_backend.outbound`): https (plain http
    only to hosts in NEMID_WEBHOOK_HTTP_HOSTS), and a host that is not and does not resolve to a
    loopback, private, link-local, unique-local, unspecified, multicast or reserved address.

    Returns the URL unchanged; raises ValidationError({field: [...]}) otherwise."""
    return validate_outbound_url(url, field=field)


def validate_allowed_types(value: Any) -> list[str]:
    """A non-empty subset of login, payment, 3ds, returned in canonical order."""
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(item, str) for item in value):
        raise ValidationError({"allowed_types": [f"A non-empty list of: {', '.join(APPROVAL_TYPES)}."]})
    unknown = sorted({item for item in value if item not in APPROVAL_TYPES})
    if unknown:
        raise ValidationError(
            {"allowed_types": [f"Unknown type(s): {', '.join(unknown)}; allowed: {', '.join(APPROVAL_TYPES)}."]}
        )
    return [kind for kind in APPROVAL_TYPES if kind in value]


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": ["A name is required."]})
    cleaned = " ".join(name.split())
    if len(cleaned) > 200:
        raise ValidationError({"name": ["At most 200 characters."]})
    if any(unicodedata.category(char).startswith("C") for char in cleaned):
        raise ValidationError({"name": ["Control characters are not allowed."]})
    return cleaned


def _clean_callback_url(callback_url: Any) -> str:
    if callback_url is None or callback_url == "":
        return ""
    return validate_callback_url(callback_url)


def _new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)  # 256 bits


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@transaction.atomic
def relying_party_create(
    *, name: Any, callback_url: Any = "", allowed_types: Any = None, actor: str
) -> tuple[RelyingParty, str, str]:
    """Create a relying party; returns (rp, clear API key, clear webhook secret), to show once."""
    clean_name = _clean_name(name)
    clean_url = _clean_callback_url(callback_url)
    types = validate_allowed_types(app_settings.DEFAULT_ALLOWED_TYPES if allowed_types is None else allowed_types)
    api_key = _new_api_key()
    webhook_secret = _new_webhook_secret()
    rp = RelyingParty.objects.create(
        client_id=str(uuid.uuid4()),
        name=clean_name,
        api_key_hash=keyed_hash(API_KEY_PURPOSE, api_key),
        api_key_prefix=api_key[:8],
        webhook_secret_encrypted=app_secrets.encrypt(webhook_secret.encode(), purpose=WEBHOOK_SECRET_PURPOSE),
        callback_url=clean_url,
        allowed_types=types,
    )
    audit_append(
        action="relying_party.created",
        object_type="relying_party",
        object_id=rp.client_id,
        actor=actor,
        data={"name": rp.name, "allowed_types": types, "callback_url": clean_url, "api_key_prefix": rp.api_key_prefix},
    )
    return rp, api_key, webhook_secret


def _forget_keys_now_and_on_commit() -> None:
    """Drop this process's remembered keys now (so the change applies at once here) and again on
    commit (so that a request which read the old row meanwhile is not remembered)."""
    relying_party_keys_forget()
    transaction.on_commit(relying_party_keys_forget)


@transaction.atomic
def relying_party_rotate_key(*, relying_party: RelyingParty, actor: str) -> tuple[RelyingParty, str]:
    """Replace the API key; the old one stops working at once. Returns (rp, clear new key)."""
    rp = RelyingParty.objects.select_for_update().get(pk=relying_party.pk)
    api_key = _new_api_key()
    rp.api_key_hash = keyed_hash(API_KEY_PURPOSE, api_key)
    rp.api_key_prefix = api_key[:8]
    rp.key_rotated_at = timezone.now()
    rp.save(update_fields=["api_key_hash", "api_key_prefix", "key_rotated_at"])
    _forget_keys_now_and_on_commit()
    audit_append(
        action="relying_party.key_rotated",
        object_type="relying_party",
        object_id=rp.client_id,
        actor=actor,
        data={"api_key_prefix": rp.api_key_prefix},
    )
    return rp, api_key


_UNCHANGED: Any = object()


def validate_prompt_limit(value: Any) -> int | None:
    """A relying party's own prompt limit: None (the service's default) or a whole number >= 0 (0: no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError({"prompt_limit_per_minute": ["Empty, or a whole number of requests per minute (0: no limit)."]})
    return value


@transaction.atomic
def relying_party_update(
    *,
    relying_party: RelyingParty,
    actor: str,
    name: Any = None,
    callback_url: Any = None,
    allowed_types: Any = None,
    is_active: bool | None = None,
    prompt_limit_per_minute: Any = _UNCHANGED,
) -> RelyingParty:
    """Change the given fields (None leaves a field as it is; for prompt_limit_per_minute, None means
    the service's default and leaving it out leaves it as it is); audited."""
    rp = RelyingParty.objects.select_for_update().get(pk=relying_party.pk)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _clean_name(name)
    if callback_url is not None:
        changes["callback_url"] = _clean_callback_url(callback_url)
    if allowed_types is not None:
        changes["allowed_types"] = validate_allowed_types(allowed_types)
    if is_active is not None:
        changes["is_active"] = bool(is_active)
    if prompt_limit_per_minute is not _UNCHANGED:
        changes["prompt_limit_per_minute"] = validate_prompt_limit(prompt_limit_per_minute)
    changes = {field: value for field, value in changes.items() if getattr(rp, field) != value}
    if not changes:
        return rp
    for field, value in changes.items():
        setattr(rp, field, value)
    rp.save(update_fields=list(changes))
    _forget_keys_now_and_on_commit()
    audit_append(action="relying_party.updated", object_type="relying_party", object_id=rp.client_id, actor=actor, data=changes)
    return rp


def relying_party_webhook_secret(relying_party: RelyingParty) -> str:
    """The RP's clear webhook secret (`whsec_...`), for signing deliveries. Never log it."""
    return app_secrets.decrypt(relying_party.webhook_secret_encrypted, purpose=WEBHOOK_SECRET_PURPOSE).decode()

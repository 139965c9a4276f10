"""Relying-party API keys: `Authorization: Bearer <api_key>`, stored only as a keyed hash.

Each process remembers the relying party of a valid key for NEMID_RP_KEY_CACHE_SECONDS (default 5;
0 turns it off), which saves a database read on every RP request. A change made through the
services (rotate, deactivate, edit) forgets the remembered parties in the process that made it at
once; other processes see it within that many seconds. Invalid keys are never remembered.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from nemid_app_backend.db import one_or_none
from nemid_app_backend.exceptions import InvalidApiKeyError
from nemid_app_backend.secrets import keyed_hash
from relying_parties.models import RelyingParty

API_KEY_PURPOSE = "rp-api-key"


KEY_CACHE_MAX = 4096
_key_cache: dict[str, tuple[float, RelyingParty]] = {}  # key hash -> (monotonic deadline, party)
_key_cache_lock = threading.Lock()


def relying_party_keys_forget() -> None:
    """Forget every remembered key (called by the services on any change to a relying party)."""
    with _key_cache_lock:
        _key_cache.clear()


def _key_digest(api_key: str) -> str | None:
    """The keyed hash an API key is stored under, or None for a value that cannot be a key."""
    if not api_key or len(api_key) > 200:
        return None
    return keyed_hash(API_KEY_PURPOSE, api_key)


def _remembered(digest: str) -> RelyingParty | None:
    remembered = _key_cache.get(digest)
    return remembered[1] if remembered is not None and remembered[0] > time.monotonic() else None


def relying_party_remembered(api_key: str) -> RelyingParty | None:
    """The relying party of a key this process remembers, or None; never touches the database
    (so async code may call it without a thread hop)."""
    digest = _key_digest(api_key)
    return _remembered(digest) if digest is not None else None


def relying_party_for_key(api_key: str) -> RelyingParty:
    digest = _key_digest(api_key)
    if digest is None:
        raise InvalidApiKeyError()
    rp = _remembered(digest)
    if rp is not None:
        return rp
    rp = one_or_none(RelyingParty.objects.filter(api_key_hash=digest, is_active=True))
    if rp is None:
        raise InvalidApiKeyError()
    ttl = float(getattr(settings, "NEMID_RP_KEY_CACHE_SECONDS", 5))
    if ttl > 0:
        with _key_cache_lock:
            if len(_key_cache) >= KEY_CACHE_MAX:
                _key_cache.clear()
            _key_cache[digest] = (time.monotonic() + ttl, rp)
    return rp


def bearer_token_from_header(value: str | None) -> str:
    if not value:
        raise InvalidApiKeyError("Send Authorization: Bearer <api_key>.")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidApiKeyError("Send Authorization: Bearer <api_key>.")
    return token.strip()


class RelyingPartyAuthentication(BaseAuthentication):
    """request.user becomes the RelyingParty."""

    def authenticate(self, request: Request) -> tuple[RelyingParty, None]:
        return relying_party_for_key(bearer_token_from_header(request.META.get("HTTP_AUTHORIZATION"))), None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"

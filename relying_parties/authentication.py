"""Relying-party API keys: `Authorization: Bearer <api_key>`, stored only as a keyed hash."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from nemid_app_backend.exceptions import InvalidApiKeyError
from nemid_app_backend.secrets import keyed_hash
from relying_parties.models import RelyingParty

API_KEY_PURPOSE = "rp-api-key"


def relying_party_for_key(api_key: str) -> RelyingParty:
    if not api_key or len(api_key) > 200:
        raise InvalidApiKeyError()
    rp = RelyingParty.objects.filter(api_key_hash=keyed_hash(API_KEY_PURPOSE, api_key), is_active=True).first()
    if rp is None:
        raise InvalidApiKeyError()
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

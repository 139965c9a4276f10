"""The server's signing keys in the admin: read-only, public parts only."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from signing.models import SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = ("kid", "created_at", "retired_at", "state")
    fields = ("kid", "created_at", "retired_at", "state", "public_jwk_pretty")  # never the (encrypted) private key
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj: SigningKey) -> str:
        return "retired (still published in the JWKS)" if obj.retired_at else "current"

    @admin.display(description="public JWK")
    def public_jwk_pretty(self, obj: SigningKey) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.public_jwk, indent=2, sort_keys=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

"""OpenAPI description of the relying parties' API-key authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class RelyingPartyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "relying_parties.authentication.RelyingPartyAuthentication"
    name = "RelyingPartyApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The API key issued once by create_relying_party."}

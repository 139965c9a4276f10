"""The public JSON Web Key Set that verifies the tokens this service signs."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from nemid_app_backend.views import read_only
from signing.services import jwks


@read_only
def jwks_view(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(jwks())
    response["Cache-Control"] = "public, max-age=300"
    response["Content-Type"] = "application/jwk-set+json"
    return response

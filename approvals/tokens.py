"""The result token (docs/contract §5): a server-signed JWT that an RP can verify offline against
/.well-known/jwks.json, carrying the device's signed decision verbatim as evidence."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings

from approvals.app_settings import app_settings
from approvals.models import ApprovalRequest
from nemid_app_backend.timefmt import rfc3339
from signing.services import sign_jwt


def result_token_claims(approval: ApprovalRequest) -> dict[str, Any]:
    if approval.decided_at is None or approval.decided_by_device is None:
        raise ValueError("a result token needs a decided request")
    now = int(time.time())
    return {
        "iss": settings.NEMID_ISSUER,
        "aud": approval.relying_party.client_id,
        "sub": approval.citizen.user_id,
        "iat": now,
        "exp": now + app_settings.RESULT_TOKEN_LIFETIME,
        "jti": str(uuid.uuid4()),
        "approval_id": str(approval.id),
        "type": approval.type,
        "status": approval.status,
        "binding_message": approval.binding_message,
        "payment": approval.payment,
        "device_id": str(approval.decided_by_device_id),
        "decided_at": rfc3339(approval.decided_at),
        "device_signature": approval.device_signature,
        "cnf": {"jwk": dict(approval.decided_by_device.public_jwk)},
    }


def result_token_sign(approval: ApprovalRequest) -> str:
    return sign_jwt(result_token_claims(approval))

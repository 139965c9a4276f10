"""The result token (docs/contract §5): a server-signed JWT that an RP can verify offline against
/.well-known/jwks.json, carrying the device's signed decision verbatim as evidence."""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.conf import settings

from approvals.models import ApprovalRequest
from signing.services import sign_jwt


def rfc3339(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def result_token_claims(approval: ApprovalRequest) -> dict[str, Any]:
    if approval.decided_at is None or approval.decided_by_device_id is None:
        raise ValueError("a result token needs a decided request")
    return {
        "iss": settings.NEMID_ISSUER,
        "aud": approval.relying_party.client_id,
        "sub": approval.citizen.user_id,
        "iat": int(time.time()),
        "approval_id": str(approval.id),
        "type": approval.type,
        "status": approval.status,
        "binding_message": approval.binding_message,
        "payment": approval.payment,
        "device_id": str(approval.decided_by_device_id),
        "decided_at": rfc3339(approval.decided_at),
        "device_signature": approval.device_signature,
    }


def result_token_sign(approval: ApprovalRequest) -> str:
    return sign_jwt(result_token_claims(approval))

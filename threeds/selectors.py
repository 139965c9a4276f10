"""Reads of cards and 3-D Secure authentications, and the EMV messages built from them (docs/contract §8).

RReq outcomes, from the approval behind a decoupled authentication:
- pending (and not past `expires_at`) -> `D`;
- approved -> `Y` with `authenticationValue` and `eci` "05";
- denied -> `N` with `transStatusReason` "01" ("11" when the citizen reported fraud); failed -> `N`, "09";
- expired (also when past `expires_at` but not yet marked) -> `U` with `challengeCancel` "03";
- cancelled (by the relying party through the approvals API) -> `U` with `challengeCancel` "07" (unknown to the ACS).
An authentication refused at once keeps its ARes answer: `N` "08" (card unknown), `U` "13" (no active device)
or `U` "12" (citizen locked). Conditional EMV fields are left out, never sent as null.
"""

from __future__ import annotations

import uuid
from typing import Any

from approvals.models import ApprovalRequest
from nemid_app_backend.db import one_or_none
from nemid_app_backend.exceptions import NotFoundError
from relying_parties.models import RelyingParty
from threeds import services
from threeds.models import Card, ThreeDSAuthentication

ECI_AUTHENTICATED = "05"
CHALLENGE_CANCEL_DECOUPLED_TIMEOUT = "03"
CHALLENGE_CANCEL_UNKNOWN = "07"


def card_get_by_pan(*, pan: str) -> Card | None:
    return Card.objects.select_related("citizen").filter(pan_hash=services.pan_hash(pan)).first()


def threeds_authentication_get(*, acs_trans_id: Any, relying_party: RelyingParty | None = None) -> ThreeDSAuthentication:
    """The authentication (of this relying party, when given), or 404 for anything else."""
    try:
        key = uuid.UUID(str(acs_trans_id))
    except ValueError as exc:
        raise NotFoundError() from exc
    queryset = ThreeDSAuthentication.objects.select_related("approval", "relying_party")
    if relying_party is not None:
        queryset = queryset.filter(relying_party=relying_party)
    authentication = queryset.filter(acs_trans_id=key).first()
    if authentication is None:
        raise NotFoundError()
    return authentication


def threeds_ares(authentication: ThreeDSAuthentication) -> dict[str, Any]:
    """The ARes subset answered to the AReq."""
    ares: dict[str, Any] = {
        "messageVersion": authentication.message_version,
        "threeDSServerTransID": authentication.three_ds_server_trans_id,
        "acsTransID": str(authentication.acs_trans_id),
        "transStatus": authentication.initial_trans_status,
    }
    if authentication.initial_trans_status == services.STATUS_DECOUPLED:
        ares["acsDecConInd"] = "Y"
    if authentication.trans_status_reason:
        ares["transStatusReason"] = authentication.trans_status_reason
    return ares


def _effective_status(approval: ApprovalRequest) -> str:
    """The approval's status, reading a pending request past its expires_at as expired (lazy expiry)."""
    if approval.is_overdue():
        return ApprovalRequest.Status.EXPIRED
    return approval.status


def threeds_rreq(authentication: ThreeDSAuthentication) -> dict[str, Any]:
    """The RReq subset of docs/contract §8 for this authentication (also the `3ds.result` webhook data)."""
    rreq: dict[str, Any] = {
        "messageVersion": authentication.message_version,
        "threeDSServerTransID": authentication.three_ds_server_trans_id,
        "acsTransID": str(authentication.acs_trans_id),
    }
    approval = authentication.approval
    if approval is None:
        rreq["transStatus"] = authentication.initial_trans_status
        if authentication.trans_status_reason:
            rreq["transStatusReason"] = authentication.trans_status_reason
        return rreq
    status = _effective_status(approval)
    Status = ApprovalRequest.Status
    if status == Status.PENDING:
        rreq["transStatus"] = services.STATUS_DECOUPLED
    elif status == Status.APPROVED:
        rreq["transStatus"] = services.STATUS_AUTHENTICATED
        rreq["authenticationValue"] = services.threeds_authentication_value(authentication)
        rreq["eci"] = ECI_AUTHENTICATED
    elif status == Status.DENIED:
        rreq["transStatus"] = services.STATUS_NOT_AUTHENTICATED
        rreq["transStatusReason"] = (
            services.REASON_SUSPECTED_FRAUD if approval.fraud_reported else services.REASON_CARD_AUTHENTICATION_FAILED
        )
    elif status == Status.FAILED:
        rreq["transStatus"] = services.STATUS_NOT_AUTHENTICATED
        rreq["transStatusReason"] = services.REASON_SECURITY_FAILURE
    elif status == Status.EXPIRED:
        rreq["transStatus"] = services.STATUS_UNAVAILABLE
        rreq["challengeCancel"] = CHALLENGE_CANCEL_DECOUPLED_TIMEOUT
    else:  # cancelled
        rreq["transStatus"] = services.STATUS_UNAVAILABLE
        rreq["challengeCancel"] = CHALLENGE_CANCEL_UNKNOWN
    return rreq


def threeds_webhook_content(approval: ApprovalRequest) -> tuple[str, dict[str, Any]] | None:
    """The webhook of a final transition of a request made by a 3-D Secure authentication:
    `3ds.result` with the RReq. None for every other request (registered with the approval events)."""
    # Only a payment of an RP allowed 3-D Secure can have come from an authentication: skip the
    # lookup for the rest (every login, and every payment of an ordinary RP).
    if approval.type != ApprovalRequest.Type.PAYMENT or not approval.relying_party.allows("3ds"):
        return None
    authentication = one_or_none(ThreeDSAuthentication.objects.filter(approval=approval))  # one-to-one
    if authentication is None:
        return None
    return "3ds.result", threeds_rreq(authentication)

"""Hooks the approval services call inside their transactions when a request is created or
reaches a final status. They own every side effect that leaves the database: channel-layer
broadcasts and push notifications (scheduled with transaction.on_commit) and the webhook outbox
row (written in the same transaction). The real-time delivery work fills these in.

Channel-layer groups (shared by the consumers, the long poll and these hooks):
- `citizen_group(citizen_id)`: every connected device of the citizen; messages
  {"type": "approval.created", "approval": <device view>} and {"type": "approval.closed", "id", "status"}.
- `approval_group(approval_id)`: RP WebSockets and long polls of one request; message
  {"type": "approval.changed", "id": "<uuid>", "status": "<status>"}.
"""

from __future__ import annotations

import uuid

from approvals.models import ApprovalRequest


def citizen_group(citizen_id: int) -> str:
    return f"citizen.{citizen_id}"


def approval_group(approval_id: uuid.UUID | str) -> str:
    return f"approval.{uuid.UUID(str(approval_id)).hex}"


def approval_request_created(approval: ApprovalRequest) -> None:
    """Called inside the creating transaction."""


def approval_request_finalized(approval: ApprovalRequest) -> None:
    """Called inside the transaction that moved the request to a final status."""

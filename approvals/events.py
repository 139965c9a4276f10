"""Hooks the approval services call inside their transactions when a request is created or
reaches a final status. They own every side effect that leaves the database: channel-layer
broadcasts and push notifications (scheduled on commit) and the webhook outbox row (written in
the same transaction). The real-time delivery work fills these in.
"""

from __future__ import annotations

from approvals.models import ApprovalRequest


def approval_request_created(approval: ApprovalRequest) -> None:
    """Called inside the creating transaction."""


def approval_request_finalized(approval: ApprovalRequest) -> None:
    """Called inside the transaction that moved the request to a final status."""

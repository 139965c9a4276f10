"""The one small interface every push provider implements, and the provider that does nothing.

A provider sends a wake-up to one device: the payload carries only the approval id and a generic
text, never an amount, a name or a message (docs/contract §6: nothing of the request travels through a
third party). The app fetches the request itself over the API.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)

PUSH_TITLE = "NemID"
PUSH_TEXT = "You have a request to approve"


class PushResult(enum.StrEnum):
    OK = "ok"
    UNREGISTERED = "unregistered"  # the token is dead: forget it
    RETRY = "retry"  # transient (network, 429, 5xx, expired auth): try again later
    FAILED = "failed"  # permanent for this message (rejected request): do not retry
    DISABLED = "disabled"  # the provider has no credentials: nothing was sent


def push_data(approval_id: str) -> dict[str, str]:
    """The whole content of a push, for every provider."""
    return {"approval_id": str(approval_id)}


class PushProvider(Protocol):
    name: str

    def send(self, device_token: str, approval_id: str) -> PushResult: ...


class NoopProvider:
    """Used for `none` and for a provider without credentials: logs and does nothing. Devices still
    see their requests over the WebSocket and by polling GET /api/v1/device/approvals."""

    def __init__(self, name: str = "none") -> None:
        self.name = name

    def send(self, device_token: str, approval_id: str) -> PushResult:
        logger.info("push provider %s is not configured; approval %s not pushed", self.name, approval_id)
        return PushResult.DISABLED


def classify_status(status_code: int) -> PushResult:
    """The common reading of an HTTP answer; providers refine it with their error reasons."""
    if 200 <= status_code < 300:
        return PushResult.OK
    if status_code in (404, 410):
        return PushResult.UNREGISTERED
    if status_code in (401, 403, 408, 429) or status_code >= 500:
        return PushResult.RETRY
    return PushResult.FAILED


def safe_json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

"""The hosted code-app page's live status: WebSocket /ws/oidc/login/{id} (under /ws/, so that
the proxy of the production shape sends it to the realtime process with the other sockets).

The socket sends {"status": "<approval status>"} at once and when the code app request changes,
then closes normally once the status is final. It joins the approval's channel-layer group, the
one the approval engine broadcasts every change to (approvals.events). The login id in the path is
random and only reveals that status; the page's script falls back to polling the status URL when
a socket cannot be opened."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from approvals.events import approval_group
from approvals.models import ApprovalRequest
from oidc.selectors import login_transaction_get

logger = logging.getLogger(__name__)

CLOSE_NORMAL = 1000


def _approval_of(login_id: Any) -> tuple[str, str] | None:
    login = login_transaction_get(transaction_id=login_id)
    if login is None or login.approval is None:
        return None
    return str(login.approval.pk), str(login.approval.status)


class LoginStatusConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        found = await database_sync_to_async(_approval_of)(self.scope["url_route"]["kwargs"]["login_id"])
        if found is None:
            await self.close()
            return
        approval_id, _ = found
        try:
            await self.channel_layer.group_add(approval_group(approval_id), self.channel_name)
        except Exception as exc:  # channel layer down: the page polls instead
            logger.warning("login status socket refused: %s: %s", type(exc).__name__, exc)
            await self.close()
            return
        self.group = approval_group(approval_id)
        # Read after joining, so that a change in between is not lost.
        found = await database_sync_to_async(_approval_of)(self.scope["url_route"]["kwargs"]["login_id"])
        await self.accept()
        if found is not None:
            await self._status(found[1])

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:
                logger.warning("group_discard failed")

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None  # nothing to say to the server

    async def approval_changed(self, event: dict[str, Any]) -> None:
        await self._status(str(event.get("status")))

    async def _status(self, status: str) -> None:
        await self.send_json({"status": status})
        if status in ApprovalRequest.FINAL_STATUSES:
            await self.close(code=CLOSE_NORMAL)

"""WebSocket origin policy (docs/contract §0): no Origin header (native apps, servers) is accepted;
a browser's Origin must name one of ALLOWED_HOSTS."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


class OriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = value.decode("latin1")
                break
        if origin is not None and not self.allowed(origin):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)

    @staticmethod
    def allowed(origin: str) -> bool:
        parsed = urlparse(origin)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            return False
        host = parsed.hostname
        if ":" in host:
            host = f"[{host}]"
        return validate_host(host, settings.ALLOWED_HOSTS)

"""Apple Push Notification service, token-based authentication over HTTP/2.

The provider token is an ES256 JWT (header kid = key id, claims iss = team id, iat) signed with the
.p8 key; Apple accepts it for an hour and rejects refreshing it more than once per 20 minutes, so
it is cached for 50 minutes. One HTTP/2 client per process keeps the connection open, as Apple asks.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from devices.push.app_settings import app_settings
from devices.push.base import PUSH_TEXT, PUSH_TITLE, PushResult, classify_status, push_data, safe_json
from nemid_app_backend.outbound import outbound_client

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = 50 * 60
UNREGISTERED_REASONS = frozenset({"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"})
STALE_AUTH_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})

_lock = threading.Lock()
_tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (team id, key id) -> (provider JWT, made at)
_clients: dict[str, httpx.Client] = {}  # base URL -> HTTP/2 client


def _client(base_url: str) -> httpx.Client:
    with _lock:
        client = _clients.get(base_url)
        if client is None or client.is_closed:
            # Plain http (local test servers) cannot negotiate HTTP/2 by ALPN: speak it by prior knowledge.
            http1 = not base_url.startswith("http://")
            client = outbound_client(timeout=app_settings.TIMEOUT, http1=http1, http2=True)
            _clients[base_url] = client
        return client


class ApnsProvider:
    name = "apns"

    def __init__(self, *, key_pem: str, key_id: str, team_id: str, topic: str) -> None:
        self.key_pem, self.key_id, self.team_id, self.topic = key_pem, key_id, team_id, topic

    @classmethod
    def from_settings(cls) -> ApnsProvider:
        return cls(
            key_pem=Path(app_settings.APNS_KEY_FILE).read_text(),
            key_id=app_settings.APNS_KEY_ID,
            team_id=app_settings.APNS_TEAM_ID,
            topic=app_settings.APNS_TOPIC,
        )

    def provider_token(self) -> str:
        key = (self.team_id, self.key_id)
        now = time.time()
        with _lock:
            cached = _tokens.get(key)
            if cached and now - cached[1] < TOKEN_LIFETIME:
                return cached[0]
            token = jwt.encode(
                {"iss": self.team_id, "iat": int(now)}, self.key_pem, algorithm="ES256", headers={"kid": self.key_id}
            )
            _tokens[key] = (token, now)
            return token

    def _forget_token(self) -> None:
        with _lock:
            _tokens.pop((self.team_id, self.key_id), None)

    @staticmethod
    def payload(approval_id: str) -> dict[str, Any]:
        return {"aps": {"alert": {"title": PUSH_TITLE, "body": PUSH_TEXT}, "sound": "default"}, **push_data(approval_id)}

    def send(self, device_token: str, approval_id: str) -> PushResult:
        base_url = app_settings.APNS_BASE_URL
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
        }
        try:
            response = _client(base_url).post(
                f"{base_url}/3/device/{quote(device_token, safe='')}", json=self.payload(approval_id), headers=headers
            )
        except httpx.HTTPError as exc:
            logger.warning("APNs send failed: %s", type(exc).__name__)
            return PushResult.RETRY
        reason = str(safe_json(response).get("reason", ""))
        if response.status_code == 410 or reason in UNREGISTERED_REASONS:
            return PushResult.UNREGISTERED
        if reason in STALE_AUTH_REASONS:
            self._forget_token()
            return PushResult.RETRY
        result = classify_status(response.status_code)
        if result is not PushResult.OK:
            logger.info("APNs answered %s %s", response.status_code, reason)
        return result


def reset() -> None:
    """Forget cached provider tokens and close clients (tests, key rotation)."""
    with _lock:
        _tokens.clear()
        for client in _clients.values():
            client.close()
        _clients.clear()

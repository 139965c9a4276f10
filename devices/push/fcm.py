"""Firebase Cloud Messaging, HTTP v1 API.

Authentication is the OAuth 2.0 JWT-bearer grant of a Google service account: an RS256 JWT signed
with the account's private key is exchanged at its token_uri for an access token, which is cached
until shortly before it expires.
"""

from __future__ import annotations

import functools
import json
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

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_REFRESH_MARGIN = 300  # seconds before expiry at which a cached access token is replaced

_lock = threading.Lock()
_tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (client_email, token_uri) -> (access token, expires at)


@functools.lru_cache(maxsize=4)
def _client(timeout: float) -> httpx.Client:
    """One client per process, following the outbound rule (a checked address, no redirects)."""
    return outbound_client(timeout=timeout)


class FcmProvider:
    name = "fcm"

    def __init__(self, service_account: dict[str, Any]) -> None:
        self.project_id = str(service_account["project_id"])
        self.client_email = str(service_account["client_email"])
        self.private_key = str(service_account["private_key"])
        self.token_uri = app_settings.FCM_TOKEN_URL or str(
            service_account.get("token_uri") or "https://oauth2.googleapis.com/token"
        )

    @classmethod
    def from_file(cls, path: str) -> FcmProvider:
        return cls(json.loads(Path(path).read_text()))

    def _access_token(self, client: httpx.Client) -> str:
        key = (self.client_email, self.token_uri)
        with _lock:
            cached = _tokens.get(key)
            if cached and cached[1] > time.time() + TOKEN_REFRESH_MARGIN:
                return cached[0]
        now = int(time.time())
        assertion = jwt.encode(
            {"iss": self.client_email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + 3600},
            self.private_key,
            algorithm="RS256",
        )
        response = client.post(self.token_uri, data={"grant_type": GRANT_TYPE, "assertion": assertion})
        response.raise_for_status()
        body = safe_json(response)
        token = str(body["access_token"])
        with _lock:
            _tokens[key] = (token, now + float(body.get("expires_in", 3600)))
        return token

    def _forget_token(self) -> None:
        with _lock:
            _tokens.pop((self.client_email, self.token_uri), None)

    def message(self, device_token: str, approval_id: str) -> dict[str, Any]:
        return {
            "message": {
                "token": device_token,
                "data": push_data(approval_id),
                "notification": {"title": PUSH_TITLE, "body": PUSH_TEXT},
                "android": {"priority": "high"},
            }
        }

    def send(self, device_token: str, approval_id: str) -> PushResult:
        url = f"{app_settings.FCM_BASE_URL}/v1/projects/{quote(self.project_id, safe='')}/messages:send"
        try:
            client = _client(app_settings.TIMEOUT)
            access_token = self._access_token(client)
            response = client.post(
                url, json=self.message(device_token, approval_id), headers={"authorization": f"Bearer {access_token}"}
            )
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            logger.warning("FCM send failed: %s", type(exc).__name__)
            return PushResult.RETRY
        if response.status_code == 401:
            self._forget_token()
        error = safe_json(response).get("error") or {}
        codes = (
            {str(detail.get("errorCode")) for detail in error.get("details", []) if isinstance(detail, dict)}
            if isinstance(error, dict)
            else set()
        )
        if "UNREGISTERED" in codes:
            return PushResult.UNREGISTERED
        result = classify_status(response.status_code)
        if result is not PushResult.OK:
            logger.info("FCM answered %s %s", response.status_code, sorted(codes))
        return result


def clear_token_cache() -> None:
    with _lock:
        _tokens.clear()

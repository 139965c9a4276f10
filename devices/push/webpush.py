"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
pywebpush. The device's push token is the browser's PushSubscription JSON."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlparse

import requests
from pywebpush import WebPushException, webpush

from devices.push.app_settings import app_settings
from devices.push.base import PUSH_TEXT, PUSH_TITLE, PushResult, classify_status, push_data

logger = logging.getLogger(__name__)

TTL = 600  # seconds the push service may hold the message: no request lives longer


def parse_subscription(token: str) -> dict[str, Any] | None:
    """The subscription if it is well-formed and its endpoint is https (or an allowed dev host)."""
    try:
        subscription = json.loads(token)
    except ValueError:
        return None
    if not isinstance(subscription, dict):
        return None
    endpoint, keys = subscription.get("endpoint"), subscription.get("keys")
    if not isinstance(endpoint, str) or not isinstance(keys, dict) or not keys.get("p256dh") or not keys.get("auth"):
        return None
    url = urlparse(endpoint)
    # The endpoint comes from the device: never let it point the server at an internal http service.
    if url.scheme != "https" and not (url.scheme == "http" and url.hostname in app_settings.WEBPUSH_HTTP_HOSTS):
        return None
    return {"endpoint": endpoint, "keys": {"p256dh": str(keys["p256dh"]), "auth": str(keys["auth"])}}


class WebPushProvider:
    name = "webpush"

    def __init__(self, *, vapid_private_key_file: str, subject: str) -> None:
        self.vapid_private_key_file, self.subject = vapid_private_key_file, subject

    def send(self, device_token: str, approval_id: str) -> PushResult:
        subscription = parse_subscription(device_token)
        if subscription is None:
            logger.info("web push subscription is malformed or not https")
            return PushResult.FAILED
        data = json.dumps({**push_data(approval_id), "title": PUSH_TITLE, "body": PUSH_TEXT})
        try:
            webpush(
                subscription_info=subscription,
                data=data,
                vapid_private_key=self.vapid_private_key_file,
                vapid_claims={"sub": self.subject},
                timeout=app_settings.TIMEOUT,
                ttl=TTL,
                headers={"urgency": "high"},
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status is None:
                return PushResult.RETRY
            result = classify_status(status)
            logger.info("web push service answered %s", status)
            return result
        except (requests.RequestException, ValueError) as exc:
            logger.warning("web push send failed: %s", type(exc).__name__)
            return PushResult.RETRY
        return PushResult.OK

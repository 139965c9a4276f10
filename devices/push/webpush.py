"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through
pywebpush. The device's push token is the browser's PushSubscription JSON."""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any
from urllib.parse import urlparse

import httpx
from py_vapid import Vapid, VapidException
from pywebpush import WebPusher, WebPushException

from devices.push.app_settings import app_settings
from devices.push.base import PUSH_TEXT, PUSH_TITLE, PushResult, classify_status, push_data
from nemid_app_backend.outbound import DestinationRefused, development_hosts, outbound_client

logger = logging.getLogger(__name__)

TTL = 600  # seconds the push service may hold the message: no request lives longer
VAPID_LIFETIME = 12 * 3600


def parse_subscription(token: str) -> dict[str, Any] | None:
    """The subscription if it is well-formed and its endpoint is https (or a development host)."""
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
    if url.scheme != "https" and not (url.scheme == "http" and (url.hostname or "").lower() in development_hosts()):
        return None
    return {"endpoint": endpoint, "keys": {"p256dh": str(keys["p256dh"]), "auth": str(keys["auth"])}}


@functools.lru_cache(maxsize=4)
def _client(timeout: float) -> httpx.Client:
    return outbound_client(timeout=timeout)


class WebPushProvider:
    """pywebpush encrypts the payload (RFC 8291) and py_vapid signs the VAPID JWT; the request
    itself goes through the outbound rule (checked address, no redirects), not through requests."""

    name = "webpush"

    def __init__(self, *, vapid_private_key_file: str, subject: str) -> None:
        self.vapid_private_key_file, self.subject = vapid_private_key_file, subject

    def _request(self, subscription: dict[str, Any], data: bytes) -> tuple[str, bytes, dict[str, str]]:
        endpoint = subscription["endpoint"]
        url = urlparse(endpoint)
        claims = {"sub": self.subject, "aud": f"{url.scheme}://{url.netloc}", "exp": int(time.time()) + VAPID_LIFETIME}
        vapid_headers = Vapid.from_file(private_key_file=self.vapid_private_key_file).sign(claims)
        body = WebPusher(subscription).encode(data, content_encoding="aes128gcm")["body"]
        headers = {
            **{str(name).lower(): str(value) for name, value in vapid_headers.items()},
            "content-encoding": "aes128gcm",
            "ttl": str(TTL),
            "urgency": "high",
        }
        return endpoint, body, headers

    def send(self, device_token: str, approval_id: str) -> PushResult:
        subscription = parse_subscription(device_token)
        if subscription is None:
            logger.info("web push subscription is malformed or not https")
            return PushResult.FAILED
        data = json.dumps({**push_data(approval_id), "title": PUSH_TITLE, "body": PUSH_TEXT}).encode()
        try:
            endpoint, body, headers = self._request(subscription, data)
        except (WebPushException, VapidException, ValueError, TypeError) as exc:  # bad keys; an endpoint VAPID cannot name
            logger.info("web push subscription cannot be encrypted to: %s", type(exc).__name__)
            return PushResult.FAILED
        try:
            response = _client(app_settings.TIMEOUT).post(endpoint, content=body, headers=headers)
        except DestinationRefused as exc:
            logger.warning("web push endpoint refused: %s", exc)
            return PushResult.FAILED
        except httpx.HTTPError as exc:
            logger.warning("web push send failed: %s", type(exc).__name__)
            return PushResult.RETRY
        result = classify_status(response.status_code)
        if result is not PushResult.OK:
            logger.info("web push service answered %s", response.status_code)
        return result

"""Push notifications: one module per provider behind one small interface (`base.PushProvider`).

`provider_for(name)` returns the configured provider, or a logging no-op when its credentials are
not set, so that the service runs without any push account.
"""

from __future__ import annotations

import logging

from devices.push.app_settings import app_settings
from devices.push.base import NoopProvider, PushProvider, PushResult

logger = logging.getLogger(__name__)

__all__ = ["PushProvider", "PushResult", "provider_for"]


def provider_for(name: str) -> PushProvider:
    try:
        if name == "fcm" and app_settings.FCM_SERVICE_ACCOUNT_FILE:
            from devices.push.fcm import FcmProvider

            return FcmProvider.from_file(app_settings.FCM_SERVICE_ACCOUNT_FILE)
        if (
            name == "apns"
            and app_settings.APNS_KEY_FILE
            and app_settings.APNS_KEY_ID
            and app_settings.APNS_TEAM_ID
            and app_settings.APNS_TOPIC
        ):
            from devices.push.apns import ApnsProvider

            return ApnsProvider.from_settings()
        if name == "webpush" and app_settings.VAPID_PRIVATE_KEY_FILE:
            from devices.push.webpush import WebPushProvider

            return WebPushProvider(vapid_private_key_file=app_settings.VAPID_PRIVATE_KEY_FILE, subject=app_settings.VAPID_SUBJECT)
    except (OSError, ValueError, KeyError):
        # Unreadable credentials are an operator error: say so, but do not fail the request flow.
        logger.exception("push provider %s is misconfigured", name)
    return NoopProvider(name)

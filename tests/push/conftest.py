from __future__ import annotations

import pytest

from devices.push import apns, fcm
from tests.webhooks.conftest import celery_eager

__all__ = ["celery_eager"]


@pytest.fixture(autouse=True)
def _fresh_provider_caches():  # type: ignore[no-untyped-def]
    fcm.clear_token_cache()
    apns.reset()
    yield
    fcm.clear_token_cache()
    apns.reset()

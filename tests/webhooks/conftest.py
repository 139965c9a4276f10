from __future__ import annotations

import pytest

from nemid_app_backend.celery import app


@pytest.fixture
def celery_eager():  # type: ignore[no-untyped-def]
    """Run tasks in the test process even in production shape (REDIS_URL set, no worker running)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous

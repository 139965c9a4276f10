"""Settings of the Celery worker subprocess in the worker-killed test: the production settings
(DATABASE_URL and REDIS_URL come from the environment the test gives it), with a short delivery
lease and a fast beat so that recovery is seen in seconds rather than a minute."""

import os

os.environ.setdefault("NEMID_TESTING", "1")

from nemid_app_backend.settings import *  # noqa: F403

NEMID_WEBHOOK_HTTP_HOSTS = ["127.0.0.1"]
NEMID_WEBHOOK_LEASE = 1.0
CELERY_BEAT_SCHEDULE = {"deliver-due-webhooks": {"task": "webhooks.tasks.deliver_due_webhooks", "schedule": 1.0}}

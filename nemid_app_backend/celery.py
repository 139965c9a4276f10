"""The Celery app `nemid_app_backend` (`celery -A nemid_app_backend worker`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nemid_app_backend.settings")

app = Celery("nemid_app_backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from nemid_app_backend.observability import connect_celery_signals  # noqa: E402

connect_celery_signals()

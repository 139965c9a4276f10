"""Settings of the Django reference: what the flow needs and nothing else.

The database as the product's settings make it (nemid_app_backend/settings.py: the psycopg 3
backend, its connection pool, server-side binding, CONN_MAX_AGE 0, statements prepared once they
repeat); the channel layer the product uses; no installed apps, no middleware, no
templates, no static files, no logging configuration.
"""

from __future__ import annotations

import os

import dj_database_url

from bench.reference.common import DATABASE_URL, POOL_SIZE, REDIS_URL

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "bench-reference-django-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.reference_django.urls"
WSGI_APPLICATION = "bench.reference_django.wsgi.application"
ASGI_APPLICATION = "bench.reference_django.asgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

_db = dj_database_url.parse(DATABASE_URL) if DATABASE_URL else {"ENGINE": "django.db.backends.postgresql", "NAME": "unset"}
_db["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django returns them at the end of each request
_db["OPTIONS"] = {
    "server_side_binding": True,
    "pool": {"min_size": 1, "max_size": POOL_SIZE, "timeout": 10},
    # As the product's settings (NEMID_DB_PREPARE_THRESHOLD) and the bare reference: psycopg prepares
    # a statement once it has run 5 times on a connection (Django leaves preparing off unless asked).
    "prepare_threshold": int(os.environ.get("REFERENCE_DJANGO_PREPARE_THRESHOLD", "5")) or None,
}
DATABASES = {"default": _db}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "nemid_app_backend.channel_layer.GroupPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 2}]},
    }
}

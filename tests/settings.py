"""Settings for the test suite: the same settings module, with test-only overrides."""

import os

os.environ.setdefault("NEMID_TESTING", "1")

from nemid_app_backend.settings import *  # noqa: F403
from nemid_app_backend.settings import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; real runs use Argon2
NEMID_WEBHOOK_HTTP_HOSTS = ["127.0.0.1", "localhost"]
NEMID_DEMO = True
STATIC_ROOT = BASE_DIR / "var" / "test-static"

# Each test process gets its own database, so that parallel runs never share one.
_suffix = os.environ.get("NEMID_TEST_DB_SUFFIX", str(os.getpid()))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db-{_suffix}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_nemid_{_suffix}"}  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A throwaway test database need not survive a power cut: no fsync makes flushes of transactional tests fast.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA synchronous=OFF;"  # noqa: F405

"""Settings for the test suite: the same settings module, with test-only overrides."""

import os

os.environ.setdefault("NEMID_TESTING", "1")

from nemid_app_backend.settings import *  # noqa: F403
from nemid_app_backend.settings import BASE_DIR

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",  # speed only; real runs use Argon2
    "oidc.hashers.ClientSecretHasher",
]
NEMID_WEBHOOK_HTTP_HOSTS = ["127.0.0.1", "localhost"]
NEMID_DEMO = True
STATIC_ROOT = BASE_DIR / "var" / "test-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
# Pages render without a collectstatic run (the manifest storage refuses names it has not hashed);
# tests/test_static_files.py runs collectstatic and checks the production storage.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True  # served from the apps' static directories, as under DEBUG

# Each test process gets its own database, so that parallel runs never share one.
_suffix = os.environ.get("NEMID_TEST_DB_SUFFIX", str(os.getpid()))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db-{_suffix}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_nemid_{_suffix}"}  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A throwaway test database need not survive a power cut: no fsync makes flushes of transactional tests fast.
    # Appended to the settings' own commands (WAL), never replacing them: the tests run the database as deployed.
    _options = DATABASES["default"]["OPTIONS"]  # noqa: F405
    _options["init_command"] = f"{_options['init_command']};PRAGMA synchronous=OFF"

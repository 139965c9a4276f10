"""Settings, driven by the environment.

Without DATABASE_URL / REDIS_URL everything runs embedded: SQLite, the in-memory channel
layer, a local-memory cache and eager Celery. With them the production shape is used:
PostgreSQL (psycopg 3 with its connection pool), the Redis channel layer, a Redis cache and
a Redis Celery broker. Environment variables are read here and only here.
"""

from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from nemid_app_backend.private_files import read_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("NEMID_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = _env_bool("DJANGO_DEBUG", False)
TESTING = _env_bool("NEMID_TESTING", False)

# --- Secrets -----------------------------------------------------------------------------------
# The production shape (DATABASE_URL set) refuses to start without its own DJANGO_SECRET_KEY. The
# embedded defaults need none: a random key is made once into var/secret-key (0600) and kept, so
# that keyed hashes stay valid across restarts. There is no public development secret. Every secret
# that is given must be long enough, in either mode.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
MIN_SECRET_LENGTH = 32


def _secret_from_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        return ""
    if len(value) < MIN_SECRET_LENGTH or len(set(value)) < 8 or value.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            f"{name} must be at least {MIN_SECRET_LENGTH} characters of random data, for example the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    return value


SECRET_KEY = _secret_from_env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if DATABASE_URL and not TESTING:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DATABASE_URL is set (the production shape keeps no key on disk)"
        )
    SECRET_KEY = read_or_create_secret(VAR_DIR / "secret-key")

ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "accounts",  # first: its admin/base_site.html (operator alerts) overrides the admin's own
    # The admin, on a site that requires a one-time code after the password (accounts/admin_site.py).
    "accounts.admin_apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "audit",
    "signing",
    "citizens",
    "relying_parties",
    "keycards",
    "keyfobs",
    "devices",
    "approvals",
    "webhooks",
    "threeds",
    "oauth2_provider",
    "oidc",
    "demo",
]

MIDDLEWARE = [
    "nemid_app_backend.observability.observability_middleware",
    "nemid_app_backend.middleware.body_limit_middleware",
    "nemid_app_backend.middleware.problem_json_middleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API docs', the demo's) from the application itself, with or
    # without a proxy in front: hashed names, compressed, cached for a year (STORAGES below).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its answer
]

# Staff log-ins (the admin): django-axes first, so that a locked account is refused before its
# password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "nemid_app_backend.urls"
ASGI_APPLICATION = "nemid_app_backend.asgi.application"
WSGI_APPLICATION = "nemid_app_backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI a persistent connection per request leaks; psycopg's pool does not.
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})
        # Server-side binding: psycopg's C-level adaptation instead of Django's default client-side
        # cursor, which quotes every parameter in Python (a tenth of the server's CPU in the bench
        # profile). Prepared statements: psycopg prepares a statement on a connection once it has
        # run NEMID_DB_PREPARE_THRESHOLD times there (psycopg's default, 5), so PostgreSQL parses and
        # plans the hot path's statements once per pooled connection instead of on every execution;
        # Django turns them off unless OPTIONS asks. Neither suits a pooler in transaction mode
        # (PgBouncer) in front of PostgreSQL: set both variables to 0 there (docs/deployment.md).
        _db["OPTIONS"]["server_side_binding"] = os.environ.get("NEMID_DB_SERVER_SIDE_BINDING", "1") == "1"
        _prepare_threshold = int(os.environ.get("NEMID_DB_PREPARE_THRESHOLD") or "5")
        _db["OPTIONS"]["prepare_threshold"] = _prepare_threshold if _prepare_threshold > 0 else None
        _db["OPTIONS"]["pool"] = {
            "min_size": int(os.environ.get("NEMID_DB_POOL_MIN", "2")),
            "max_size": int(os.environ.get("NEMID_DB_POOL_MAX", "20")),
            "timeout": 10,
        }
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        # The same as the embedded database: concurrent writers wait for each other instead of
        # failing with "database is locked" (a deferred transaction cannot wait to upgrade).
        _db.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES = {"default": _db}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}}
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers on the embedded database (also for DATABASE_URL=sqlite:///...):
    # - WAL: readers and writers do not block each other. In the default rollback-journal mode an
    #   open read (an admin list, verify_audit_log walking the log) holds every writer's commit,
    #   and a new connection cannot even start while a writer waits: requests failed with
    #   "database is locked" once the wait ran out. The mode is kept in the database file.
    # - BEGIN IMMEDIATE for every transaction.atomic: a write transaction takes the write lock at
    #   its start, waiting for it with the busy timeout, instead of upgrading a read lock
    #   mid-transaction (which SQLite refuses at once, without waiting, when another writer holds it).
    # - timeout: the busy timeout (seconds) every connection waits for a lock.
    # synchronous stays FULL (the default): a committed decision survives a power cut.
    _sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite_options.setdefault("timeout", 20)
    _sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
    _sqlite_options["init_command"] = ";".join(
        command for command in ("PRAGMA journal_mode=WAL", _sqlite_options.get("init_command", "")) if command
    )
    # A file, not :memory:, so that threads in tests share the database.
    DATABASES["default"]["TEST"].setdefault("NAME", str(VAR_DIR / "test-db.sqlite3"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # OpenID Connect client secrets only (256 random bits, so a keyed hash, not a slow one):
    # OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"] names it; it is never the default for passwords.
    "oidc.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis: cache, channel layer, Celery broker ----------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "nemid_app_backend.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2, "retry_on_timeout": False},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # The PubSub layer does not silently drop messages beyond a channel capacity; this
            # subclass keeps consumers' own channels in-process (see the module).
            "BACKEND": "nemid_app_backend.channel_layer.GroupPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 2}],
            },
        }
    }
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True

CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# max_retries 0: a publish with the broker down fails at once instead of stalling the request ~6 s
# in kombu's reconnect loop; the callers log it (webhooks are recovered from the outbox by the beat).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "max_retries": 0}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-overdue-approvals": {"task": "approvals.tasks.expire_overdue_approvals", "schedule": 5.0},
    "deliver-due-webhooks": {"task": "webhooks.tasks.deliver_due_webhooks", "schedule": 10.0},
    # Links committed audit entries into the keyed chain; writes a signed checkpoint when one is due.
    "seal-audit-log": {"task": "audit.tasks.seal_audit_log", "schedule": float(os.environ.get("NEMID_AUDIT_SEAL_SECONDS", "2"))},
    "purge-expired-oidc-records": {"task": "oidc.tasks.purge_expired", "schedule": 3600.0},
}

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` fills it (make migrate, make run, README's production commands); with
# DEBUG on WhiteNoise also serves straight from the apps' static directories.
STATIC_ROOT = Path(os.environ.get("NEMID_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST framework and OpenAPI --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # Fail closed: a view is refused to anonymous callers unless it declares permission_classes = [AllowAny].
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["nemid_app_backend.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "nemid_app_backend.exception_handlers.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "nemid-app-backend",
    "DESCRIPTION": "Login and payment approvals signed on the citizen's phone.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the schema and its docs are public
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # With the demo on, the examples in /api/docs/ name the demo's citizen and latest requests.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "demo.openapi.fill_examples_with_demo_data"],
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "devices.models.Device.Status",
        "ApprovalStatusEnum": "approvals.models.ApprovalRequest.Status",
        # AReq threeDSRequestorDecReqInd and ARes acsDecConInd are both the EMV indicator "Y".
        "ThreeDSYesIndicatorEnum": ["Y"],
    },
}

# --- OpenID Connect provider (django-oauth-toolkit; the oidc app, docs/oidc.md) ---------------
# Its tokens and grants belong to citizens, not to operator users: the toolkit's swappable models
# are the oidc app's (docs/decisions/0004-oidc-on-django-oauth-toolkit.md).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oidc.Client"
OAUTH2_PROVIDER_GRANT_MODEL = "oidc.Grant"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oidc.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oidc.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oidc.IDToken"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OAUTH2_SERVER_CLASS": "oidc.server.Server",
    "OAUTH2_VALIDATOR_CLASS": "oidc.validators.Validator",
    "APPLICATION_ADMIN_CLASS": "oidc.admin.ClientAdmin",
    "ACCESS_TOKEN_ADMIN_CLASS": "oidc.admin.AccessTokenAdmin",
    "GRANT_ADMIN_CLASS": "oidc.admin.GrantAdmin",
    "ID_TOKEN_ADMIN_CLASS": "oidc.admin.IDTokenAdmin",
    "REFRESH_TOKEN_ADMIN_CLASS": "oidc.admin.RefreshTokenAdmin",
    "CLIENT_SECRET_HASHER": "nemid_client_secret",
    "SCOPES": {"openid": "Confirm who you are", "profile": "Your name and date of birth"},
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],  # http only on loopback: oidc.services
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_SUBJECT_TYPES_SUPPORTED": ["pairwise"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 600,
    "ID_TOKEN_EXPIRE_SECONDS": 600,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# --- Security --------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = _env_bool("NEMID_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- The operator admin: one-time codes and log-in throttling ----------------------------------
# TOTP devices of staff (enroll_staff_totp) are labelled with this issuer in authenticator apps.
OTP_TOTP_ISSUER = os.environ.get("NEMID_ADMIN_TOTP_ISSUER", "nemid-app-backend")
# django-axes: after AXES_FAILURE_LIMIT failed log-ins (a wrong password or a wrong one-time code)
# an account is locked for AXES_COOLOFF_TIME, whichever address the attempts come from; an address
# that fails that often is locked as well (password spraying across accounts). The address is the
# real client behind NEMID_TRUSTED_PROXIES, so a forged X-Forwarded-For neither locks out someone
# else nor escapes a lock.
AXES_FAILURE_LIMIT = int(os.environ.get("NEMID_ADMIN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("NEMID_ADMIN_LOCKOUT_MINUTES", "30")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.login_throttle.client_ip"
# The service audits staff log-ins and lock-outs itself (accounts.login_throttle); no INFO line
# from django-axes on every start of every command.
AXES_VERBOSE = False

# --- Logging: never log request bodies (they carry CPR numbers, codes and card numbers) -------
# NEMID_LOG_FORMAT=json: one JSON object per line (python-json-logger), with the request id.
NEMID_LOG_FORMAT = os.environ.get("NEMID_LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "nemid_app_backend.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if NEMID_LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("NEMID_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # httpx logs every request URL at INFO: push tokens and webhook URLs stay out of the logs.
        "httpx": {"level": "WARNING"},
        # The toolkit's clear_expired (the hourly purge) writes six INFO lines per run, mostly "0 ... deleted".
        "oauth2_provider.models": {"level": "WARNING"},
        # Embedded mode runs the periodic jobs in the server process (nemid_app_backend.lifespan): one
        # "Task ... succeeded" line every few seconds would bury the server's own log.
        **({} if REDIS_URL else {"celery.app.trace": {"level": "WARNING"}}),
    },
}
# WhiteNoise hands Django's ASGI handler (uvicorn: `make run`) a file iterator; Django reads it in a
# thread and warns once per process that it did. Expected: the production shape serves static files
# from the WSGI server.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators", category=Warning)

# --- nemid settings (read through each app's app_settings.py) --------------------------------
NEMID_ISSUER = os.environ.get("NEMID_ISSUER", "https://nemid-app-backend.local")
# Keys for keyed hashes (CPR, PAN, API keys, activation codes), for encryption at rest (webhook
# secrets, server signing keys) and for 3-D Secure authentication values. Each is derived from
# SECRET_KEY (HKDF, one label per use) unless given; a given one must be long enough.
NEMID_HMAC_KEY = _secret_from_env("NEMID_HMAC_KEY")
NEMID_ENCRYPTION_KEY = _secret_from_env("NEMID_ENCRYPTION_KEY")
NEMID_ISSUER_3DS_SECRET = _secret_from_env("NEMID_ISSUER_3DS_SECRET")
# A PEM private key (P-256) for signing result tokens; when empty a key is generated and kept
# (encrypted) in the database on first use, and `rotate_signing_key` adds new ones.
NEMID_SIGNING_KEY_PEM = os.environ.get("NEMID_SIGNING_KEY_PEM", "")
NEMID_WEBHOOK_HTTP_HOSTS = _env_list("NEMID_WEBHOOK_HTTP_HOSTS")
# Addresses or networks of the reverse proxies in front of the service, whose X-Forwarded-For is
# believed (comma-separated; none by default). Give the ASGI server the same list.
NEMID_TRUSTED_PROXIES = _env_list("NEMID_TRUSTED_PROXIES")
if NEMID_TRUSTED_PROXIES:
    # Behind the proxy, the request's scheme is the one the client used: X-Forwarded-Proto, which the
    # proxy sets on every request (deploy/nginx: a client's own value never passes). granian does not
    # read it itself; the servers listen on 127.0.0.1, where only the proxy reaches them.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
NEMID_VAR_DIR = str(VAR_DIR)
# Audit log: at most one signed checkpoint per this many seconds. The PostgreSQL role the service runs
# as, when it is not the one that migrates: `migrate` then grants it INSERT and SELECT only on the audit
# tables (audit.roles; docs/deployment.md).
NEMID_AUDIT_CHECKPOINT_SECONDS = float(os.environ.get("NEMID_AUDIT_CHECKPOINT_SECONDS", "60"))
NEMID_DB_RUNTIME_ROLE = os.environ.get("NEMID_DB_RUNTIME_ROLE", "")
# A bearer token Prometheus sends to /metrics; without one, /metrics answers loopback peers only.
NEMID_METRICS_TOKEN = os.environ.get("NEMID_METRICS_TOKEN", "")
# PROMETHEUS_MULTIPROC_DIR (read by prometheus-client itself): several server processes on one host
# share their metrics through files there; empty it before the service starts (docs/operations.md).
# The demo (/demo/, `seed_demo`) makes a well-known citizen, card and relying party: on by default
# with DJANGO_DEBUG, and with debug off only when forced as well (NEMID_DEMO=1 NEMID_DEMO_FORCE=1).
NEMID_DEMO = _env_bool("NEMID_DEMO", DEBUG)
if NEMID_DEMO and not DEBUG and not _env_bool("NEMID_DEMO_FORCE", False):
    raise ImproperlyConfigured(
        "NEMID_DEMO=1 with DJANGO_DEBUG off would publish the demo on a real deployment; "
        "set NEMID_DEMO_FORCE=1 as well if that is really meant"
    )


def _env_rate_limits(name: str, default: str) -> list[tuple[int, int]]:
    """`10/600,50/86400`: at most 10 in any 600 seconds and 50 in any 86400 seconds."""
    limits = []
    for item in _env_list(name, default):
        count, _, seconds = item.partition("/")
        limits.append((int(count), int(seconds)))
    return limits


# Prompt limits (docs/contract §7, v1.1; read through approvals/app_settings.py): per citizen across all
# relying parties, and per relying party (each may have its own value, set in the admin).
NEMID_PROMPT_LIMITS_PER_CITIZEN = _env_rate_limits("NEMID_PROMPT_LIMITS_PER_CITIZEN", "10/600,50/86400")
NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE = int(os.environ.get("NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE", "600"))
# Denials within an hour (since the citizen's last approval) that slow prompts down; 0: never.
NEMID_PROMPT_DENIAL_THRESHOLD = int(os.environ.get("NEMID_PROMPT_DENIAL_THRESHOLD", "3"))

# Push provider credentials; a provider without them logs and does nothing.
NEMID_FCM_SERVICE_ACCOUNT_FILE = os.environ.get("NEMID_FCM_SERVICE_ACCOUNT_FILE", "")
NEMID_APNS_KEY_FILE = os.environ.get("NEMID_APNS_KEY_FILE", "")
NEMID_APNS_KEY_ID = os.environ.get("NEMID_APNS_KEY_ID", "")
NEMID_APNS_TEAM_ID = os.environ.get("NEMID_APNS_TEAM_ID", "")
NEMID_APNS_TOPIC = os.environ.get("NEMID_APNS_TOPIC", "")
NEMID_APNS_USE_SANDBOX = _env_bool("NEMID_APNS_USE_SANDBOX", False)
NEMID_VAPID_PRIVATE_KEY_FILE = os.environ.get("NEMID_VAPID_PRIVATE_KEY_FILE", "")
NEMID_VAPID_SUBJECT = os.environ.get("NEMID_VAPID_SUBJECT", "mailto:operations@nemid-app-backend.local")

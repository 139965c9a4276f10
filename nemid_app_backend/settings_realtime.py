"""Settings of the realtime process: uvicorn serving WebSockets and long polls in the production
shape (README, docs/deployment.md), where the proxy sends it `/ws/` and `GET /api/v1/approvals/{id}?wait=N`.

The same settings, with the URLs that process serves (nemid_app_backend.urls_realtime: the API and
the health checks, no admin, docs or demo) and only the middleware they need. Every entry left is
sync and async capable or small; the ones left out (sessions, CSRF, the admin's authentication and
messages, static files) serve the HTML pages, and WhiteNoise, which is synchronous only, would make
Django's ASGI handler run the rest of the chain through a thread. WebSockets go through Channels'
routing (nemid_app_backend.asgi), not through this chain.

    DJANGO_SETTINGS_MODULE=nemid_app_backend.settings_realtime uvicorn nemid_app_backend.asgi:application
"""

from nemid_app_backend.settings import *  # noqa: F403

ROOT_URLCONF = "nemid_app_backend.urls_realtime"
MIDDLEWARE = [
    "nemid_app_backend.observability.observability_middleware",
    "nemid_app_backend.middleware.body_limit_middleware",
    "nemid_app_backend.middleware.problem_json_middleware",
    "django.middleware.security.SecurityMiddleware",  # the API's response headers (nosniff, referrer policy)
]

"""URLs of the realtime process (nemid_app_backend.settings_realtime): the API and the health
checks, without the admin, the API docs and the demo, whose pages need the middleware that process
leaves out (sessions, CSRF, messages, static files). The proxy sends it WebSockets and long polls
(`GET /api/v1/approvals/{id}?wait=N`); the rest of the API also answers here, as on the WSGI server."""

from django.urls import URLPattern, URLResolver, include, path

from nemid_app_backend import views
from nemid_app_backend.urls import api_v1, handler400, handler403, handler404, handler500

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("", include("signing.urls")),
    path("api/v1/", include(api_v1)),
]

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from nemid_app_backend import views

api_v1 = [
    path("", include("devices.urls")),
    path("", include("approvals.urls")),
    path("", include("threeds.urls")),
    path("", include("audit.urls")),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("", include("signing.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("", include("oidc.provider_urls")),
    path("oidc/", include("oidc.urls")),
]
if settings.NEMID_DEMO:
    urlpatterns.append(path("demo/", include("demo.urls")))
    # A visitor of the bare address lands on the demo (not on a 404 problem).
    urlpatterns.append(path("", RedirectView.as_view(pattern_name="demo:index", permanent=False), name="home"))

handler400 = "nemid_app_backend.exception_handlers.handler400"
handler403 = "nemid_app_backend.exception_handlers.handler403"
handler404 = "nemid_app_backend.exception_handlers.handler404"
handler500 = "nemid_app_backend.exception_handlers.handler500"

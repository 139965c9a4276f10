"""The endpoints django-oauth-toolkit's views find by name (namespace "oauth2_provider"): discovery
builds its endpoint URLs by reversing these. `jwks-info` names the service's one JWKS, which the
signing app serves at the same path (it is listed first in the root URLconf)."""

from django.urls import path

from oidc.views import endpoints, hosted
from signing.views import jwks_view

app_name = "oauth2_provider"

urlpatterns = [
    path(".well-known/openid-configuration", endpoints.DiscoveryView.as_view(), name="oidc-connect-discovery-info"),
    path(".well-known/jwks.json", jwks_view, name="jwks-info"),
    path("oidc/authorize", hosted.authorize, name="authorize"),
    path("oidc/token", endpoints.ProviderTokenView.as_view(), name="token"),
    path("oidc/userinfo", endpoints.ProviderUserInfoView.as_view(), name="user-info"),
    path("oidc/logout", endpoints.LogoutView.as_view(), name="rp-initiated-logout"),
]

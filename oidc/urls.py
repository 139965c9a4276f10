"""The provider's own pages and endpoints (namespace "oidc")."""

from django.urls import path

from oidc.views import endpoints, hosted

app_name = "oidc"

urlpatterns = [
    path("backchannel", endpoints.backchannel, name="backchannel"),
    path("login/<uuid:login_id>", hosted.login_page, name="login"),
    path("login/<uuid:login_id>/user", hosted.login_user, name="login-user"),
    path("login/<uuid:login_id>/restart", hosted.login_restart, name="login-restart"),
    path("login/<uuid:login_id>/method", hosted.login_method, name="login-method"),
    path("login/<uuid:login_id>/app", hosted.login_app, name="login-app"),
    path("login/<uuid:login_id>/code", hosted.login_code, name="login-code"),
    path("login/<uuid:login_id>/password", hosted.login_password, name="login-password"),
    path("login/<uuid:login_id>/status", hosted.login_status, name="login-status"),
    path("login/<uuid:login_id>/change", hosted.login_change, name="login-change"),
    path("login/<uuid:login_id>/consent", hosted.login_consent, name="login-consent"),
    path("login/<uuid:login_id>/cancel", hosted.login_cancel, name="login-cancel"),
]

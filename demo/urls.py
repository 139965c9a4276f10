from django.urls import path

from demo import public_service, views

app_name = "demo"

urlpatterns = [
    path("", views.index, name="index"),
    path("shop/", views.shop, name="shop"),
    path("shop/pay", views.shop_pay, name="shop-pay"),
    path("shop/status/<str:acs_trans_id>", views.shop_status, name="shop-status"),
    path("login/", views.login, name="login"),
    path("login/start", views.login_start, name="login-start"),
    path("login/status/<str:approval_id>", views.login_status, name="login-status"),
    path("login/code", views.login_code_start, name="login-code-start"),
    path("login/code/<str:login_id>", views.login_code_finish, name="login-code-finish"),
    path("phone/", views.phone, name="phone"),
    path("public-service/", public_service.home, name="public-service"),
    path("public-service/login", public_service.login, name="public-service-login"),
    path("public-service/callback", public_service.callback, name="public-service-callback"),
    path("public-service/logout", public_service.logout, name="public-service-logout"),
]

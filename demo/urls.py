from django.urls import path

from demo import views

app_name = "demo"

urlpatterns = [
    path("", views.index, name="index"),
    path("shop/", views.shop, name="shop"),
    path("shop/pay", views.shop_pay, name="shop-pay"),
    path("shop/status/<str:acs_trans_id>", views.shop_status, name="shop-status"),
    path("login/", views.login, name="login"),
    path("login/start", views.login_start, name="login-start"),
    path("login/status/<str:approval_id>", views.login_status, name="login-status"),
    path("phone/", views.phone, name="phone"),
]

from django.urls import path

from oidc import consumers

websocket_urlpatterns = [
    path("oidc/login/<uuid:login_id>/live", consumers.LoginStatusConsumer.as_asgi()),
]

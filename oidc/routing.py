from django.urls import path

from oidc import consumers

websocket_urlpatterns = [
    path("ws/oidc/login/<uuid:login_id>", consumers.LoginStatusConsumer.as_asgi()),
]

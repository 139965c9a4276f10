from django.urls import path, re_path

from approvals import consumers

websocket_urlpatterns = [
    path("ws/v1/device", consumers.DeviceConsumer.as_asgi()),
    path("ws/v1/approvals/<uuid:approval_id>", consumers.ApprovalConsumer.as_asgi()),
    # Anything else (a non-UUID id, an unknown path) is refused at the handshake, not an error.
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),
]

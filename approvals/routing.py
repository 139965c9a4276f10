from django.urls import path

from approvals import consumers

websocket_urlpatterns = [
    path("ws/v1/device", consumers.DeviceConsumer.as_asgi()),
    path("ws/v1/approvals/<uuid:approval_id>", consumers.ApprovalConsumer.as_asgi()),
]

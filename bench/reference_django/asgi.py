"""The Django reference's long poll and sockets (uvicorn bench.reference_django.asgi:application):
HTTP through Django's ASGIHandler, WebSockets through Channels' URLRouter to the consumers.

At the lifespan's startup the process joins one group for good, as the bare reference's hub stays
subscribed to `ref:hub`: channels_redis's PubSub receiver sleeps 100 ms at a time while its
connection holds no subscription, so in a process that is idle between two long polls the next
one's message could wait up to that long."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.reference_django.settings")
django_asgi_app = get_asgi_application()

from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.reference_django.consumers import ApprovalConsumer, DeviceConsumer  # noqa: E402


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (message := await receive())["type"] != "lifespan.shutdown":
        if message["type"] == "lifespan.startup":
            layer = get_channel_layer()
            assert layer is not None
            await layer.group_add("ref.hub", await layer.new_channel())
            await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                path("ws/v1/device", DeviceConsumer.as_asgi()),
                path("ws/v1/approvals/<str:approval_id>", ApprovalConsumer.as_asgi()),
            ]
        ),
        "lifespan": lifespan,
    }
)

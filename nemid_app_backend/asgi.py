"""The ASGI application: HTTP through Django's own ASGI handler, WebSockets through Channels, and
the lifespan protocol (nemid_app_backend.lifespan: the periodic jobs of embedded mode).

`make run` serves everything with it in one uvicorn process. In the production shape the REST API
runs on a WSGI server (nemid_app_backend.wsgi) and uvicorn serves the WebSockets and long polls
with nemid_app_backend.settings_realtime, which keeps the middleware chain to what they need.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nemid_app_backend.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from approvals.routing import websocket_urlpatterns  # noqa: E402
from nemid_app_backend.lifespan import Lifespan  # noqa: E402
from nemid_app_backend.observability import WebSocketGauge  # noqa: E402
from nemid_app_backend.websocket_origin import OriginValidator  # noqa: E402
from oidc.routing import websocket_urlpatterns as oidc_websocket_urlpatterns  # noqa: E402

application = Lifespan(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # The approvals' routes end with a catch-all that refuses unknown paths: the provider's first.
            "websocket": WebSocketGauge(OriginValidator(URLRouter([*oidc_websocket_urlpatterns, *websocket_urlpatterns]))),
        }
    )
)

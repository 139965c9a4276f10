"""The ASGI application: HTTP through Django, WebSockets through Channels.

Synchronous HTTP endpoints run through Django's WSGI handler in one thread hop per request; the
async long-poll view is called directly (with the security headers), and (under DEBUG) static
files go through Django's ASGI handler: see nemid_app_backend/http_dispatch.py for why."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nemid_app_backend.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.DEBUG:
    # `make run` serves the admin's and the demo's static files itself; production puts them behind a CDN or proxy.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from approvals.apis import approval_detail  # noqa: E402
from nemid_app_backend.http_dispatch import HttpDispatcher, WsgiHandler  # noqa: E402

http_application = HttpDispatcher(
    wsgi_app=WsgiHandler(),
    asgi_app=django_asgi_app,
    long_poll_view=approval_detail,
    static_prefix=settings.STATIC_URL if settings.DEBUG else None,
)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from approvals.routing import websocket_urlpatterns  # noqa: E402
from nemid_app_backend.websocket_origin import OriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

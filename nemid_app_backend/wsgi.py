"""The WSGI application: the REST API, the admin, the API docs and their static files in the
production shape (a WSGI server; README, docs/deployment.md). WebSockets and long polls go to
uvicorn (nemid_app_backend.asgi); a long poll that reaches this server anyway is served, holding
its worker thread for the wait."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nemid_app_backend.settings")
application = get_wsgi_application()

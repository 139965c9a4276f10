"""The Django reference's REST endpoints: Django's WSGIHandler (granian --interface wsgi bench.reference_django.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.reference_django.settings")
application = get_wsgi_application()

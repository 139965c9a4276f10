"""The stack's floor: bench/reference/'s flow served through Django and Channels, for `make bench`'s ratios.

The same flow, SQL and Redis traffic as the bare reference (bench/reference/: its schema, its
statements, its signature check and its device view are imported from there), but served the way a
minimal Django project on the product's stack would serve it, and nothing more:
  - the REST endpoints as plain Django function views behind Django's WSGIHandler on granian, with an
    empty MIDDLEWARE (no sessions, no CSRF, no CommonMiddleware), no DRF, no authentication, no
    validation, no audit;
  - PostgreSQL through Django's own connection (the psycopg 3 backend with its pool and server-side
    binding, as nemid_app_backend/settings.py configures it), the reference's statements run as raw
    SQL on `connection.cursor()` (no ORM, no models);
  - the long poll as an async Django view through Django's ASGIHandler on uvicorn, the device and RP
    sockets as Channels consumers (AsyncWebsocketConsumer), and the messages between the processes
    through the product's channel layer (channels_redis pub/sub:
    nemid_app_backend.channel_layer.GroupPubSubChannelLayer), sent from the WSGI views through one
    long-lived event loop per process (nemid_app_backend.transport.broadcast).
So "reference-django / reference" is what the chosen stack costs by itself, and "product /
reference-django" what the product's own work costs on top of it.
"""

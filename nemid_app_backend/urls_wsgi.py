"""URLs of the requests nemid_app_backend.http_dispatch hands to Django's WSGI handler: the root
URL configuration, except that the approval read is served by its synchronous DRF view (a long poll,
`?wait=N`, never comes here: the dispatcher calls the async view itself)."""

from approvals.urls import sync_urlpatterns
from nemid_app_backend.urls import build_urlpatterns, handler400, handler403, handler404, handler500

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = build_urlpatterns(sync_urlpatterns)

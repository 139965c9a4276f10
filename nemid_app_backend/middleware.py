"""Keep the API's promise of problem+json even where Django answers on its own.

With DEBUG on (`make run`), Django renders unknown paths and unhandled errors as HTML debug
pages, stack trace included. Outside the admin and the demo, which are HTML applications, any
error response that is not already JSON is replaced by the matching problem object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from nemid_app_backend.exception_handlers import handler400, handler403, handler404, handler500

HTML_PREFIXES = ("/admin/", "/demo/", "/static/", "/api/docs/")


def problem_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The response, or the problem object for an error response that is not JSON (outside the HTML apps)."""
    if response.status_code < 400 or request.path.startswith(HTML_PREFIXES):
        return response
    if "json" in response.get("Content-Type", ""):
        return response
    if response.status_code == 404:
        return handler404(request)
    if response.status_code == 403:
        return handler403(request)
    if response.status_code >= 500:
        return handler500(request)
    if response.status_code == 400:
        return handler400(request)
    return response


@sync_and_async_middleware
def problem_json_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Sync and async capable: a sync-only middleware would push the async long-poll view onto a
    thread for its whole wait."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            return problem_json(request, await get_response(request))

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        return problem_json(request, get_response(request))

    return middleware

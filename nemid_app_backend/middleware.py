"""Keep the API's promise of problem+json even where Django answers on its own.

With DEBUG on (`make run`), Django renders unknown paths and unhandled errors as HTML debug
pages, stack trace included. Outside the admin and the demo, which are HTML applications, any
error response that is not already JSON is replaced by the matching problem object.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from nemid_app_backend.exception_handlers import handler400, handler403, handler404, handler500

HTML_PREFIXES = ("/admin/", "/demo/", "/static/", "/api/docs/")


class ProblemJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or request.path.startswith(HTML_PREFIXES):
            return response
        content_type = response.get("Content-Type", "")
        if "json" in content_type:
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

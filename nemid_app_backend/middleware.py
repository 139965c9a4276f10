"""Middleware of the request path, each sync and async capable so that neither handler (WSGI,
ASGI) adds a thread hop for it:

- `body_limit_middleware`, first in the chain: a body over NEMID_MAX_REQUEST_BODY (64 KiB) is
  refused with 413 payload_too_large before anything else (authentication included) looks at it;
- `problem_json_middleware`: keeps the API's promise of problem+json even where Django answers on
  its own. With DEBUG on (`make run`), Django renders unknown paths and unhandled errors as HTML
  debug pages, stack trace included. Outside the admin and the demo, which are HTML applications,
  any error response that is not already JSON is replaced by the matching problem object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.utils.decorators import sync_and_async_middleware

from nemid_app_backend.app_settings import app_settings
from nemid_app_backend.exception_handlers import handler400, handler403, handler404, handler500, problem_json_response
from nemid_app_backend.exceptions import MethodNotAllowedError, PayloadTooLargeError

HTML_PREFIXES = ("/admin/", "/demo/", "/static/", "/api/docs/", "/oidc/")


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
    if response.status_code == 405:  # a Django view's HttpResponseNotAllowed: keep its Allow
        allow = response.get("Allow")
        return problem_json_response(MethodNotAllowedError(headers={"Allow": allow} if allow else None))
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


def _body_too_large(request: HttpRequest, limit: int) -> bool:
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        try:
            return int(declared) > limit
        except ValueError:  # Django reads no body then
            return False
    if "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return False
    # A chunked body has no declared length. Under ASGI Django has it buffered (a WSGI server hands
    # Django none of it): read it through request.body, which refuses (RequestDataTooBig) a body over
    # DATA_UPLOAD_MAX_MEMORY_SIZE before reading it into memory, and measure it.
    try:
        return len(request.body) > limit
    except RequestDataTooBig:
        return True
    except UnreadablePostError:  # the client left; the view fails as it would
        return False


def body_limit_refusal(request: HttpRequest) -> HttpResponse | None:
    """The 413 problem for a request whose body is over the limit, else None."""
    limit = app_settings.MAX_REQUEST_BODY
    if not _body_too_large(request, limit):
        return None
    return problem_json_response(PayloadTooLargeError(f"The request body is larger than {limit} bytes."))


@sync_and_async_middleware
def body_limit_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """First in MIDDLEWARE: an oversized body is refused before authentication (CONTRACT §0)."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            return body_limit_refusal(request) or await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        return body_limit_refusal(request) or get_response(request)

    return middleware

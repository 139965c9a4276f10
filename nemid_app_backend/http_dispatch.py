"""HTTP dispatch inside the one ASGI application.

Django's ASGI handler runs every MiddlewareMixin middleware's process_request and process_response
on a shared thread, about ten hops per request: measured here, 3.8 ms of CPU for `/healthz`,
against 0.4 ms through the WSGI handler. So:
- synchronous endpoints (DRF views that talk to the database: almost all of them) go through
  Django's WSGI handler, in one thread hop per request on a thread pool. It resolves URLs with
  `nemid_app_backend.urls_wsgi`, where the plain approval read is its DRF view;
- the long poll (`GET /api/v1/approvals/{id}?wait=N`, an async view that must hold no thread while
  it waits) is called directly with an ASGIRequest, after the host check Django would make, with
  the response side of the header-setting middleware (SecurityMiddleware, XFrameOptionsMiddleware)
  and the problem+json rule; it needs nothing else of the chain;
- under DEBUG, static files go to Django's ASGI handler. WebSockets never come here.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from asgiref.sync import sync_to_async
from asgiref.wsgi import WsgiToAsgiInstance
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response

from nemid_app_backend.middleware import problem_json

# What urls.py routes to approvals.apis.approval_detail (`approvals/<str:approval_id>`, no slash).
LONG_POLL_PATH = re.compile(r"^/api/v1/approvals/(?P<approval_id>[^/]+)$")
MAX_BODY = 8 * 1024 * 1024  # Django refuses more than DATA_UPLOAD_MAX_MEMORY_SIZE anyway

Scope = MutableMapping[str, Any]
AsyncView = Callable[..., Awaitable[HttpResponse]]


WSGI_URLCONF = "nemid_app_backend.urls_wsgi"


class WsgiHandler(WSGIHandler):
    """Django's WSGI handler, resolving with WSGI_URLCONF."""

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = WSGI_URLCONF  # type: ignore[attr-defined]  # Django's per-request URL configuration
        return super().get_response(request)


def _no_response(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the response side of these middleware is used")


class HttpDispatcher:
    def __init__(self, *, wsgi_app: Any, asgi_app: Any, long_poll_view: AsyncView, static_prefix: str | None = None) -> None:
        self.wsgi_app = wsgi_app
        self.asgi_app = asgi_app
        self.long_poll_view = long_poll_view
        self.static_prefix = static_prefix
        self._security = SecurityMiddleware(_no_response)
        self._frame_options = XFrameOptionsMiddleware(_no_response)

    def _is_static(self, scope: Scope) -> bool:
        return bool(self.static_prefix) and scope.get("path", "").startswith(self.static_prefix)

    def _long_poll(self, scope: Scope) -> re.Match[str] | None:
        """The path match of a long poll: a GET of the approval with a `wait` parameter (decoded as
        Django decodes it), or None."""
        match = LONG_POLL_PATH.match(scope.get("path", ""))
        if match is None or scope.get("method") != "GET":
            return None
        query = scope.get("query_string", b"").decode("latin1")
        return match if any(name == "wait" for name, _ in parse_qsl(query, keep_blank_values=True)) else None

    def wants_async(self, scope: Scope) -> bool:
        """Whether the request is not for the WSGI handler: a static file or a long poll."""
        return self._is_static(scope) or self._long_poll(scope) is not None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._is_static(scope):
            await self.asgi_app(scope, receive, send)
            return
        body = await _read_body(receive, send)
        if body is None:
            return
        long_poll = self._long_poll(scope)
        if long_poll is not None:
            await self._direct(scope, body, receive, send, approval_id=long_poll["approval_id"])
            return
        status, headers, chunks = await sync_to_async(self._run, thread_sensitive=False)(scope, body)
        await _send_all(send, status, headers, chunks)

    async def _direct(self, scope: Scope, body: bytes, receive: Any, send: Any, **kwargs: str) -> None:
        """The long-poll view without Django's middleware chain (see the module docstring).

        As Django's ASGI handler does, the view is cancelled when the client disconnects, and
        exceptions are answered as Django answers them (SuspiciousOperation 400, the rest 500)."""
        try:
            request = ASGIRequest(scope, io.BytesIO(body))
        except UnicodeDecodeError:  # a query string that is not UTF-8 (Django: 400)
            await _send_all(send, 400, [(b"content-type", b"application/problem+json")], [_BAD_REQUEST])
            return
        view = asyncio.ensure_future(self._respond(request, kwargs))
        disconnect = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait({view, disconnect}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            disconnect.cancel()
            if not view.done():  # the client left (or the server stops): end the view, which leaves its group
                view.cancel()
                await asyncio.wait({view})
        if view.cancelled():
            return
        response = view.result()
        if not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        headers = [(name.lower().encode("latin1"), value.encode("latin1")) for name, value in response.items()]
        await _send_all(send, response.status_code, headers, [response.content])

    async def _respond(self, request: HttpRequest, kwargs: dict[str, str]) -> HttpResponse:
        try:
            request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it for every request
            response = self._security.process_request(request) or await self.long_poll_view(request, **kwargs)
        except Exception as exc:  # what Django's handler does with an exception from a view or middleware
            response = await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)
        response = problem_json(
            request, self._frame_options.process_response(request, self._security.process_response(request, response))
        )
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    def _run(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
        """Run the WSGI app in this worker thread, buffering the (small, JSON) response."""
        try:
            adapter = WsgiToAsgiInstance(self.wsgi_app)
            adapter.scope = scope  # build_environ reads the headers from self.scope
            environ = adapter.build_environ(scope, io.BytesIO(body))
        except ValueError:  # too many duplicate headers
            return 400, [(b"content-type", b"application/problem+json")], [_BAD_HEADERS]
        started: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(name.lower().encode("latin1"), value.encode("latin1")) for name, value in response_headers]
            return lambda data: chunks.append(bytes(data))

        chunks: list[bytes] = []
        result = self.wsgi_app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(bytes(chunk))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return started["status"], started["headers"], chunks


async def _read_body(receive: Any, send: Any) -> bytes | None:
    """The whole request body; None when the client left or the body was too large (answered 413)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            await _send_all(send, 413, [(b"content-type", b"application/problem+json")], [_TOO_LARGE])
            return None
        if not message.get("more_body"):
            return bytes(body)


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_all(send: Any, status: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"".join(chunks)})


def _problem(status: int, code: str, title: str, detail: str) -> bytes:
    import json

    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}).encode()


_TOO_LARGE = _problem(413, "payload_too_large", "Payload too large", "The request body is too large.")
_BAD_HEADERS = _problem(400, "validation_error", "Bad request", "Too many duplicate headers.")
_BAD_REQUEST = _problem(400, "validation_error", "Bad request", "The request is malformed.")

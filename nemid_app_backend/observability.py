"""Request ids, structured logs and the request-level metrics.

- Every request has an id: the proxy's `X-Request-ID` when it is a plausible one (letters, digits,
  `-_.:`, at most 128 characters), else a new one. It is answered in `X-Request-ID`, added to every
  log record of the request (`request_id`), and carried in the headers of the Celery tasks the
  request enqueues, whose log records carry it too.
- `NEMID_LOG_FORMAT=json` makes every log line one JSON object (python-json-logger); the plain
  format stays the default for a terminal.
- `observability_middleware` counts and times requests by method, route pattern and status class
  in one histogram (long polls apart: counted in flight and when answered, not timed) and sets the
  request id.
- `WebSocketGauge` counts open WebSockets around the Channels router.
"""

from __future__ import annotations

import contextvars
import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from nemid_app_backend import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("nemid_request_id", default=None)


def request_id_from(value: str | None) -> str:
    """The proxy's request id when it is a plausible one, else a new one (a header is never trusted blindly into logs)."""
    if value and _VALID_REQUEST_ID.fullmatch(value):
        return value
    # 128 random bits from the process's own generator: an id only tells log lines apart (nothing
    # is guarded by it), and this costs no system call per request as uuid4's urandom does.
    return f"{random.getrandbits(128):032x}"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (the current request's or task's, or "-") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


# --- HTTP ---------------------------------------------------------------------------------------


_WAIT_PARAMETER = re.compile(r"(?:^|&)wait=")


def _is_long_poll(request: HttpRequest) -> bool:
    """Read from the raw query string: parsing it here would raise for a malformed or oversized one
    before the view could answer it."""
    return (
        request.method == "GET"
        and request.path.startswith("/api/v1/approvals/")
        and _WAIT_PARAMETER.search(request.META.get("QUERY_STRING", "")) is not None
    )


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def _record(request: HttpRequest, response: HttpResponse, started: float, long_poll: bool) -> None:
    """One metric write per request: the histogram's `_count` counts what it times."""
    if long_poll:
        metrics.long_polls_answered(response.status_code // 100).inc()
    else:
        metrics.http_seconds(request.method or "", _route(request), response.status_code // 100).observe(
            time.perf_counter() - started
        )


@sync_and_async_middleware
def observability_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Sync and async capable, so that neither handler adds a thread hop for it."""

    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            seen = _Seen(request)
            try:
                response = await get_response(request)
            finally:
                seen.answered()
            return seen.record(response)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        seen = _Seen(request)
        try:
            response = get_response(request)
        finally:
            seen.answered()
        return seen.record(response)

    return middleware


class _Seen:
    """One request through the middleware: its request id set for the logs while it runs, a long
    poll counted while it waits, the metric writes it made waiting to be made together
    (metrics.soon), and its metrics and X-Request-ID added to the response."""

    __slots__ = ("long_poll", "pending", "pending_token", "request", "request_id", "started", "token")

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        self.token = request_id_var.set(self.request_id)
        self.pending: list[Callable[[], None]] = []
        self.pending_token = metrics.pending_var.set(self.pending)
        self.started, self.long_poll = time.perf_counter(), _is_long_poll(request)
        if self.long_poll:
            metrics.LONG_POLLS.inc()

    def answered(self) -> None:
        """The view has answered or raised: what it left waiting is written now, and what runs
        later (a streamed body) writes at once."""
        metrics.pending_var.reset(self.pending_token)
        try:
            metrics.write_pending(self.pending)
        finally:
            if self.long_poll:
                metrics.LONG_POLLS.dec()

    def record(self, response: HttpResponse) -> HttpResponse:
        _record(self.request, response, self.started, self.long_poll)
        response[REQUEST_ID_HEADER] = self.request_id
        request_id_var.reset(self.token)
        return response


# --- WebSockets ---------------------------------------------------------------------------------


class WebSocketGauge:
    """ASGI wrapper around the WebSocket router: counts a connection from its accept to its end,
    by kind (`device` for /ws/v1/device, `approval` for an RP's subscription, `other` for the rest,
    such as the hosted login pages' status socket)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        kind = (
            "device" if path.rstrip("/") == "/ws/v1/device" else "approval" if path.startswith("/ws/v1/approvals/") else "other"
        )
        accepted = False

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal accepted
            if message.get("type") == "websocket.accept" and not accepted:
                accepted = True
                metrics.child(metrics.WEBSOCKETS, kind).inc()
            await send(message)

        token = request_id_var.set(request_id_from(_header(scope, b"x-request-id")))
        try:
            await self.app(scope, receive, counting_send)
        finally:
            if accepted:
                metrics.child(metrics.WEBSOCKETS, kind).dec()
            request_id_var.reset(token)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


# --- Celery -------------------------------------------------------------------------------------


def connect_celery_signals() -> None:
    """Carry the request id from the enqueuing request into the task's log records."""
    from celery.signals import before_task_publish, task_postrun, task_prerun

    def add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
        request_id = request_id_var.get()
        if headers is not None and request_id:
            headers["nemid_request_id"] = request_id

    def set_request_id(task: Any = None, **_: Any) -> None:
        request_id = getattr(task.request, "nemid_request_id", None) if task is not None else None
        if request_id is None and task is not None:
            request_id = (getattr(task.request, "headers", None) or {}).get("nemid_request_id")
        # An eager task (embedded mode) runs inside the request that enqueued it and keeps its id.
        current = request_id_from(request_id) if request_id else request_id_var.get()
        task.request.nemid_previous_request_id = request_id_var.set(current)

    def reset_request_id(task: Any = None, **_: Any) -> None:
        token = getattr(task.request, "nemid_previous_request_id", None) if task is not None else None
        if token is not None:
            request_id_var.reset(token)

    before_task_publish.connect(add_request_id, weak=False, dispatch_uid="nemid_request_id_publish")
    task_prerun.connect(set_request_id, weak=False, dispatch_uid="nemid_request_id_prerun")
    task_postrun.connect(reset_request_id, weak=False, dispatch_uid="nemid_request_id_postrun")
